"""Survey texts translated per language in the admin, one box per text and language."""

import pytest
from django.forms.models import model_to_dict

from accounts.roles import ADMINISTRATORS
from surveys.admin_translations import SurveyTranslationsForm
from surveys.models import Survey
from tests.factories import StaffFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def _data(survey, **boxes):
    data = {
        k: v
        for k, v in model_to_dict(survey).items()
        if v is not None and k not in ("question_translations", "text_translations")
    }
    return {**data, **boxes}


def test_boxes_save_into_the_translations_the_pages_read():
    survey = SurveyFactory(
        intro_text="Thanks for being with us.",
        text_translations={"es": {"follow_up_negative": "¿Qué mejorar?"}},
    )
    form = SurveyTranslationsForm(
        _data(
            survey,
            tr_pt_br_intro_text="Obrigado por estar conosco.",
            tr_pt_br_question="Você recomendaria a ACME?",
            tr_es_follow_up_negative="¿Qué deberíamos mejorar?",
        ),
        instance=survey,
    )
    assert form.is_valid(), form.errors
    form.save()
    survey = Survey.objects.get(pk=survey.pk)
    assert survey.text_for("intro_text", "pt-br") == "Obrigado por estar conosco."
    assert survey.question_for("pt-br") == "Você recomendaria a ACME?"
    assert survey.text_translations["es"] == {"follow_up_negative": "¿Qué deberíamos mejorar?"}
    # Emptying a box goes back to the text as written.
    form = SurveyTranslationsForm(_data(survey, tr_pt_br_question=""), instance=survey)
    assert form.is_valid(), form.errors
    form.save()
    survey = Survey.objects.get(pk=survey.pk)
    assert "pt-br" not in survey.question_translations
    assert "pt-br" not in survey.text_translations


def test_change_form_shows_a_box_per_language_and_what_lacks_a_translation(client):
    client.force_login(StaffFactory(username="boss", role=ADMINISTRATORS, is_superuser=True))
    survey = SurveyFactory(intro_text="Thanks for being with us.")
    body = client.get(f"/admin/surveys/survey/{survey.pk}/change/").content.decode()
    assert 'name="tr_pt_br_intro_text"' in body
    assert 'name="tr_es_reason_options"' in body
    assert "Translation: Spanish" in body
    assert "no translation of intro text" in body
    assert 'name="text_translations"' not in body
