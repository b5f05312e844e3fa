"""The filters in force, in words, for the one-line summary above a report's numbers."""

from django import forms, template

register = template.Library()


@register.simple_tag
def filter_summary(form) -> list[tuple[str, str]]:
    """(label, value shown) of every filter the request set, in the form's order; choices by
    their labels. A form with errors summarises nothing (its numbers are not shown)."""
    if form is None or not form.is_bound or not form.is_valid():
        return []
    rows = []
    for name, field in form.fields.items():
        raw = form.data.get(name)
        if raw in (None, ""):
            continue
        value = form.cleaned_data.get(name)
        if isinstance(field, forms.ModelChoiceField):
            shown = str(value) if value is not None else raw
        elif isinstance(field, forms.ChoiceField):
            labels = {str(key): str(label) for key, label in field.choices}
            shown = labels.get(str(raw), str(raw))
        elif isinstance(field, forms.BooleanField):
            if not value:
                continue
            shown = "✓"
        else:
            shown = str(raw)
        rows.append((str(field.label), shown))
    return rows
