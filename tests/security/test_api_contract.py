"""D12: the API is JSON-only, answers unknown /api/ paths in JSON, and its schema is one a
client generator can use (the generated client itself is driven in the integration tier)."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import CS_STAFF
from surveys.models import Survey
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    user = StaffFactory(role=CS_STAFF)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("fmt", ["multipart", None])
def test_form_bodies_are_415_and_write_nothing(api, fmt):
    kwargs = {"format": fmt} if fmt else {"content_type": "application/x-www-form-urlencoded"}
    body = {"name": "Relational", "kind": "nps"} if fmt else "name=Relational&kind=nps"
    reply = api.post("/api/v1/surveys", body, **kwargs)
    assert reply.status_code == 415
    assert "detail" in reply.json()
    assert not Survey.objects.exists()


def test_a_survey_created_without_active_is_active(api):
    reply = api.post("/api/v1/surveys", {"name": "Relational", "kind": "nps"}, format="json")
    assert reply.status_code == 201
    assert reply.json()["active"] is True


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/surveys", "/api/v1/surveys/x/y/z"])
def test_unknown_api_paths_are_json_404s(api, path):
    reply = api.get(path)
    assert reply.status_code == 404
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {"detail": "Not found."}


def test_pages_outside_the_api_keep_the_html_404(client):
    reply = client.get("/nope/")
    assert reply.status_code == 404
    assert reply["Content-Type"].startswith("text/html")


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


def test_the_schema_describes_paths_as_the_readme_writes_them(schema):
    assert "/api/v1/surveys" in schema["paths"]
    assert not [p for p in schema["paths"] if p.endswith("/")]
    assert schema["servers"][0]["url"] == "https://surveys.example.com"
    assert schema["info"]["license"]["name"] == "MIT"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert operation.get("tags"), (method, path)
            for code in ("400", "401", "403", "404", "429"):
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"]["$ref"].startswith("#/components/schemas/")
            if "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"]
                assert "415" in operation["responses"]


def _response_schema(schema, path, method="get", code="200"):
    return schema["paths"][path][method]["responses"][code]["content"]


def test_requests_and_responses_have_their_own_components(schema):
    components = schema["components"]["schemas"]
    request = components["SurveyRequest"]["properties"]
    assert "created_at" not in request and "effective_question" not in request
    assert (
        "required" not in components["SurveyRequest"]
        or "active" not in (components["SurveyRequest"]["required"])
    )
    assert "effective_question" in components["Survey"]["properties"]


@pytest.mark.parametrize(
    ("path", "component"),
    [
        ("/api/v1/metrics/summary", "Summary"),
        ("/api/v1/metrics/trend", "Trend"),
        ("/api/v1/accounts/{external_id}/scores", "AccountScores"),
        ("/api/v1/contacts/{email}/data", "ContactData"),
        ("/api/v1/metrics/support", "SupportMetrics"),
        ("/api/v1/accounts/{external_id}/onboarding", "OnboardingResult"),
    ],
)
def test_every_response_has_a_typed_body(schema, path, component):
    content = _response_schema(schema, path, "post" if "erase" in path else "get")
    assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{component}"}


def test_score_blocks_have_a_nullable_score_and_interval(schema):
    nps = schema["components"]["schemas"]["NpsBlock"]["properties"]
    assert nps["score"]["nullable"] is True
    assert nps["ci95"]["nullable"] is True and nps["ci95"]["maxItems"] == 2


def test_the_export_file_is_documented_as_csv_or_xlsx(schema):
    content = _response_schema(schema, "/api/v1/exports/{public_id}/file")
    assert set(content) == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert content["text/csv"]["schema"] == {"type": "string"}
    xlsx = content["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    assert xlsx["schema"] == {"type": "string", "format": "binary"}


@pytest.mark.parametrize(
    ("path", "method", "code", "component"),
    [
        ("/api/v1/tickets", "post", "201", "TicketWriteResult"),
        ("/api/v1/tickets", "post", "200", "TicketWriteResult"),
        ("/api/v1/usage", "post", "201", "UsageWriteResult"),
        ("/api/v1/accounts/{external_id}/seats", "put", "200", "SeatsResult"),
        ("/api/v1/accounts/{external_id}/onboarding", "put", "200", "OnboardingResult"),
    ],
)
def test_the_outcome_writes_have_typed_answers(schema, path, method, code, component):
    content = _response_schema(schema, path, method, code)
    assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{component}"}
    # One object answers the object, a list the batch summary: both are documented.
    if component.endswith("WriteResult"):
        assert len(schema["components"]["schemas"][component]["oneOf"]) == 2
