"""A staff member's own settings page (time zone)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import preferences
from metrics.forms import TimeZoneInput


class ProfileForm(forms.Form):
    time_zone = forms.CharField(
        label=gettext_lazy("Time zone"),
        required=False,
        max_length=64,
        widget=TimeZoneInput,
        help_text=gettext_lazy("Times on staff pages and the reports' periods use it."),
    )


@staff_member_required
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, initial={"time_zone": _current(request)})
    form.fields["time_zone"].widget.attrs["placeholder"] = _("Default (%(tz)s)") % {
        "tz": settings.TIME_ZONE
    }
    if request.method == "POST" and form.is_valid():
        try:
            preferences.set_time_zone(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                form.add_error(field, errors)
        else:
            request.session[preferences.SESSION_KEY] = preferences.time_zone_of(request.user)
            messages.success(request, _("Saved. Times are now shown in this time zone."))
            return redirect("profile")
    status = 400 if request.method == "POST" else 200
    return render(request, "staff/profile.html", {"form": form}, status=status)


def _current(request: HttpRequest) -> str:
    chosen = preferences.time_zone_of(request.user)
    return "" if chosen == settings.TIME_ZONE else chosen
