"""The staff accounts' operations, for the booking service's OpenAPI document (api_spec.OPERATIONS)."""

from __future__ import annotations

from services.booking import accounts
from services.booking.accounts_schemas import SetPasswordIn, StaffInviteIn, StaffSignInIn
from shared.openapi import DATETIME, UUID, Operation, error_response, json_response, operation, path_param

SIGN_IN_TAG = "Staff sign-in"
CLINIC_TAG = "Clinic API"
ROLE = {"enum": list(accounts.ROLES)}


def _obj(required: list[str], **props: dict) -> dict:
    return {"type": "object", "required": required, "properties": props}


STAFF = _obj(["id", "name", "email", "role"], id=UUID, name={"type": "string"}, email={"type": "string"}, role=ROLE)
MEMBER = {
    "allOf": [
        STAFF,
        _obj(
            ["status", "created_at", "last_sign_in_at"],
            status={"enum": [accounts.INVITED, accounts.ACTIVE], "description": "`invited`: no password set yet"},
            created_at=DATETIME,
            last_sign_in_at={"type": ["string", "null"], "format": "date-time"},
        ),
    ]
}
CLINIC = _obj(["id", "slug", "name"], id=UUID, slug={"type": "string"}, name={"type": "string"})
SIGNED_IN = _obj(
    ["token", "expires_at", "staff", "clinic"],
    token={
        "type": "string",
        "description": f"`{accounts.SESSION_PREFIX}…`: send it as `Authorization: Bearer <token>` to the clinic API",
    },
    expires_at=DATETIME,
    staff=STAFF,
    clinic=CLINIC,
)
ME = _obj(
    ["staff", "role", "clinic"],
    staff={**STAFF, "type": ["object", "null"], "description": "null when the caller is an API key"},
    role=ROLE,
    clinic={
        **CLINIC,
        "required": ["id", "slug", "name", "timezone"],
        "properties": {**CLINIC["properties"], "timezone": {"type": "string"}},
    },
)
STAFF_ID = path_param("id", {"type": "string"}, "The staff account's id (a uuid)")
HOURS = int(accounts.LINK_LIFETIME.total_seconds() // 3600)

OPERATIONS: tuple[Operation, ...] = (
    operation(
        "POST",
        "/api/v1/staff/sessions",
        summary="Sign in as a clinic's staff member",
        tag=SIGN_IN_TAG,
        body=StaffSignInIn,
        description=f"The token opens the clinic API for {int(accounts.SESSION_LIFETIME.total_seconds() // 3600)} "
        f"hours, with the account's role. Attempts are limited per account ({accounts.SIGN_IN_ATTEMPTS} per "
        f"{int(accounts.SIGN_IN_WINDOW.total_seconds() // 60)} minutes) and per client address: 429 with Retry-After.",
        responses={
            201: json_response("Signed in", SIGNED_IN),
            401: error_response(401, "That email and password do not match an account (`invalid_credentials`)"),
        },
    ),
    operation(
        "POST",
        "/api/v1/staff/password",
        summary="Set a password from an emailed one-time link",
        tag=SIGN_IN_TAG,
        body=SetPasswordIn,
        errors=(404,),
        description=f"A link works once, for {HOURS} hours. Nobody is signed in: sign in with the new password.",
        responses={
            200: json_response("The password is set", _obj(["staff", "clinic"], staff=STAFF, clinic=CLINIC)),
            404: error_response(404, "No such link (`link_not_found`)"),
            410: error_response(410, "The link was used already (`link_used`) or has expired (`link_expired`)"),
        },
    ),
    operation(
        "GET",
        "/api/v1/clinic/me",
        summary="Who is calling: the staff member (or an API key), their role and clinic",
        tag=CLINIC_TAG,
        clinic_auth=True,
        responses={200: json_response("The caller", ME)},
    ),
    operation(
        "DELETE",
        "/api/v1/clinic/session",
        summary="Sign out: the calling staff token stops at once",
        tag=CLINIC_TAG,
        clinic_auth=True,
        errors=(409,),
        description="409 `not_a_session` for an API key (revoke keys instead).",
        responses={204: {"description": "Signed out"}},
    ),
    operation(
        "GET",
        "/api/v1/clinic/staff",
        summary="The clinic's staff accounts (owners only)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        errors=(403,),
        responses={200: json_response("Staff", _obj(["staff"], staff={"type": "array", "items": MEMBER}))},
    ),
    operation(
        "POST",
        "/api/v1/clinic/staff",
        summary="Invite a staff member (owners only)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        body=StaffInviteIn,
        errors=(403, 409),
        description=f"The account has no password until its person follows the emailed link (one use, {HOURS} "
        "hours). Inviting again someone of this clinic who has not set a password, or was removed, sends a new "
        "link; an email with any other account is 409 `email_taken`.",
        responses={201: json_response("Invited", MEMBER)},
    ),
    operation(
        "DELETE",
        "/api/v1/clinic/staff/{id}",
        summary="Remove a staff member: the account and its sign-ins stop (owners only)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[STAFF_ID],
        errors=(403, 404, 409),
        description="409 `cannot_remove_self` for one's own account, `last_owner` for the clinic's last owner.",
        responses={204: {"description": "Removed"}},
    ),
)
