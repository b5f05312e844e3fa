"""The survey admin's translation boxes: one field per language and staff-written text, kept in
the survey's `question_translations` and `text_translations` (what the pages and emails read)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import Survey

LONG_TEXTS = {"intro_text", "reason_options"}


def translated_fields() -> list[str]:
    return ["question", *Survey.TRANSLATABLE_TEXTS]


def other_languages() -> list[tuple[str, str]]:
    return [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def box_name(code: str, field: str) -> str:
    return f"tr_{code.replace('-', '_')}_{field}"


def _box(code: str, language: str, field: str) -> forms.CharField:
    model_field = Survey._meta.get_field(field)
    return forms.CharField(
        label=f"{model_field.verbose_name} ({language})",
        required=False,
        max_length=getattr(model_field, "max_length", None) or 1000,
        widget=forms.Textarea(attrs={"rows": 3})
        if field in LONG_TEXTS
        else forms.TextInput(attrs={"size": 80}),
        help_text=_("One option per line, in the same order.") if field == "reason_options" else "",
    )


def _formfield(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # as the admin does (formfield_overrides)
    return field.formfield(**kwargs)


class _TranslationBoxes(forms.ModelForm):
    """The survey form plus a box per (language, text); an empty box means "as written"."""

    class Meta:
        model = Survey
        fields = "__all__"  # noqa: DJ007 - the admin picks the fields (its fieldsets)
        formfield_callback = _formfield

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        questions = self.instance.question_translations or {}
        texts = self.instance.text_translations or {}
        for code, _language in other_languages():
            for field in translated_fields():
                name = box_name(code, field)
                if name not in self.fields:
                    continue
                self.fields[name].initial = (
                    questions.get(code, "")
                    if field == "question"
                    else (texts.get(code) or {}).get(field, "")
                )

    def save(self, commit: bool = True) -> Survey:
        survey = super().save(commit=False)
        if not any(name.startswith("tr_") for name in self.cleaned_data):
            return survey if not commit else self._saved(survey)
        questions = dict(survey.question_translations or {})
        texts = {
            k: dict(v) for k, v in (survey.text_translations or {}).items() if isinstance(v, dict)
        }
        for code, _language in other_languages():
            for field in translated_fields():
                name = box_name(code, field)
                if name not in self.cleaned_data:
                    continue
                value = (self.cleaned_data.get(name) or "").strip()
                if field == "question":
                    questions.pop(code, None)
                    if value:
                        questions[code] = value
                    continue
                language_texts = texts.setdefault(code, {})
                language_texts.pop(field, None)
                if value:
                    language_texts[field] = value
            if not texts.get(code):
                texts.pop(code, None)
        survey.question_translations = questions
        survey.text_translations = texts
        return self._saved(survey) if commit else survey

    def _saved(self, survey: Survey) -> Survey:
        survey.save()
        self.save_m2m()
        return survey


# The boxes are declared on the class (the admin builds its form from declared fields).
SurveyTranslationsForm = type(
    "SurveyTranslationsForm",
    (_TranslationBoxes,),
    {
        box_name(code, field): _box(code, language, field)
        for code, language in other_languages()
        for field in translated_fields()
    },
)


def translation_fieldsets() -> list[tuple[str, dict]]:
    return [
        (
            _("Translation: %(language)s") % {"language": language},
            {
                "classes": ["collapse"],
                "fields": [box_name(code, field) for field in translated_fields()],
                "description": _("Empty: respondents read the text as written above."),
            },
        )
        for code, language in other_languages()
    ]
