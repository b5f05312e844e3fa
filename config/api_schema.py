"""OpenAPI schema hooks (drf-spectacular's documented PREPROCESSING/POSTPROCESSING_HOOKS).

- The servers entry is this installation's SITE_URL.
- Paths as the README writes them: `/api/v1/surveys`, not `/api/v1/surveys/` (both are served).
- Every operation documents its errors with their JSON bodies: 400 (per-field errors), 401,
  403, 404, 406, 415 (a body that is not JSON) and 429, so a generated client has a typed error
  for each.
"""

from __future__ import annotations

from django.conf import settings

ERROR = {"$ref": "#/components/schemas/Error"}
FIELD_ERRORS = {"$ref": "#/components/schemas/FieldErrors"}

ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "An error that is not about one field.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "FieldErrors": {
        "type": "object",
        "description": (
            "Invalid input: each bad field (or parameter) names its errors, a nested object "
            "for a nested field; `non_field_errors` or `detail` (a body that is not JSON) for "
            "the input as a whole. Nothing was written."
        ),
        "additionalProperties": {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": {}},
                {"type": "string"},
            ]
        },
    },
}

ERRORS = {
    "400": ("Invalid input; each field or parameter names its errors.", FIELD_ERRORS),
    "401": ("No valid token (`Authorization: Token KEY`).", ERROR),
    "403": ("The token's user lacks the permission (see README, roles).", ERROR),
    "404": ("No such object, or not yours.", ERROR),
    "406": ("The Accept header asks for something other than JSON.", ERROR),
    "429": ("Too many wrong tokens from this address; see Retry-After.", ERROR),
}
UNSUPPORTED_MEDIA = ("The body is not JSON (`Content-Type: application/json`).", ERROR)


def paths_without_trailing_slash(endpoints, **kwargs):
    return [
        (path.rstrip("/") or "/", path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


def document_errors(result, generator, request, public, **kwargs):
    # This installation's address (SITE_URL), read when the schema is built.
    result["servers"] = [{"url": settings.SITE_URL, "description": "This installation"}]
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            codes = dict(ERRORS)
            if "requestBody" in operation:
                codes["415"] = UNSUPPORTED_MEDIA
            for code, (description, schema) in codes.items():
                existing = responses.get(code, {})
                responses[code] = {
                    "description": existing.get("description") or description,
                    "content": {"application/json": {"schema": schema}},
                }
    return result
