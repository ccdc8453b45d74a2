"""moto 5.2.1 server for cupbearer's tests, with IAM auth that behaves like AWS for our flows.

Usage: python3 moto_iam_server.py --port PORT [--identity-role-arn ARN] [--auth]
       [--enforce-session-policies]

Started by test/support/aws-world.ts; prints "moto_iam_server ready on http://127.0.0.1:PORT"
once it listens. Exits with 127 when moto is not importable (the launcher's "not installed").

IAM auth is off at start (moto's default) unless --auth; switch it on with moto's own
`POST /moto-api/reset-auth` body `0`. Patches to moto, each as narrow as we could make it:

1. Unsigned-by-design calls: with auth on, moto answers 500 to any request without an
   Authorization header (it indexes the header blindly), except X-Amz-Target operations in its
   own PUBLIC_OPERATIONS list (cognito-identity GetId and GetOpenIdToken, a few cognito-idp
   ones). We additionally let through, unsigned only, cognito-identity GetCredentialsForIdentity
   and STS AssumeRoleWithWebIdentity; every other unsigned request gets a proper 403
   (S3: AccessDenied, other services: MissingAuthenticationToken) instead of the 500. A signed
   request for those actions is still checked like any other. Requests with X-Amz-Target (JSON
   protocols: DynamoDB, Cognito) get their auth refusals as JSON `{"__type": CODE, ...}` rather
   than moto's XML, so SDK clients see the code as the error's name.
2. GetCredentialsForIdentity always answers the same fixed key (TESTACCESSKEY12345, read from
   moto at start, not hard-coded here). We register it as an assumed role of --identity-role-arn
   in moto's STS backend (at start, and again on every GetCredentialsForIdentity in case
   /moto-api/reset wiped it), with moto's fixed secret and session token, so requests signed
   with it are authorized by that role's policies (looked up live, so the role may be created
   after start).
3. DynamoDB: stock moto authorizes every DynamoDB action against resource "*", so a policy that
   names a table never matches. We authorize against the table's ARN instead, as AWS does
   (`.../table/NAME`, plus `/index/INDEX` for index queries), once per table for batch and
   transact operations.
4. Session policies: stock moto stores the inline Policy of AssumeRole* but never evaluates it
   (measured: see aws-world.ts). With --enforce-session-policies, or after
   `POST /_cupbearer/session-policies` body `on`, a request by such credentials must also be
   allowed by that session policy (an explicit Deny or no match refuses it). Body `off` turns
   it off again. Body `on ROLE_ARN` (`off ROLE_ARN`) does the same for the sessions of that one
   role only, so test files sharing this server each switch their own role.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

FIXED_KEY_SESSION_NAME = "cupbearer-identity"
# "_" cannot start an S3 bucket name, so these never shadow a path-style S3 request.
CONTROL_PATH = "/_cupbearer/session-policies"
READY_PATH = "/_cupbearer/ready"
ROLE_ARN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--identity-role-arn",
        default="arn:aws:iam::123456789012:role/cupbearer-identity",
        help="role whose policies apply to the fixed GetCredentialsForIdentity key",
    )
    parser.add_argument("--auth", action="store_true", help="IAM auth on from the start")
    parser.add_argument("--enforce-session-policies", action="store_true")
    args = parser.parse_args()
    if not ROLE_ARN.fullmatch(args.identity_role_arn):
        parser.error("--identity-role-arn must be arn:aws:iam::<12 digits>:role/<name>")

    try:
        import moto  # noqa: F401
        from werkzeug.serving import make_server
    except ImportError as err:
        print(f"moto_iam_server: moto is not installed: {err}", file=sys.stderr, flush=True)
        sys.exit(127)

    state = {"enforce_session_policies": bool(args.enforce_session_policies)}
    roles: set[str] = set()
    install_patches(args.identity_role_arn, state, roles)

    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    if args.auth:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        # Our one control route, in front of moto so no service can shadow it.
        if environ.get("PATH_INFO") == READY_PATH:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ready\n"]
        if environ.get("PATH_INFO") == CONTROL_PATH and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            value = environ["wsgi.input"].read(min(length, 512)).decode("utf-8", "replace").strip()
            switch, _, role_arn = value.partition(" ")
            if switch not in ("on", "off") or (role_arn and not ROLE_ARN.fullmatch(role_arn)):
                start_response("400 Bad Request", [("Content-Type", "text/plain")])
                return [b"body must be on or off, optionally followed by a role ARN\n"]
            if role_arn:
                previous = role_arn in roles
                (roles.add if switch == "on" else roles.discard)(role_arn)
            else:
                previous = state["enforce_session_policies"]
                state["enforce_session_policies"] = switch == "on"
            body = json.dumps({"previous": "on" if previous else "off"}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return moto_app(environ, start_response)

    server = make_server(args.host, args.port, app, threaded=True)
    print(f"moto_iam_server ready on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def install_patches(identity_role_arn: str, state: dict[str, bool], roles: set[str]) -> None:
    from moto import settings
    from moto.cognitoidentity.models import CognitoIdentityBackend, cognitoidentity_backends
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import (
        AssumedRoleAccessKey,
        IAMPolicy,
        IAMRequestBase,
        PermissionResult,
    )
    from moto.iam.models import AccessKey, iam_backends
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.responses import S3Response
    from moto.sts.models import AssumedRole, sts_backends
    from moto.sts.responses import TokenResponse
    from moto.utilities.utils import get_partition

    # -- 1. unsigned-by-design calls -------------------------------------------------------------
    class MissingAuthenticationTokenError(_RESTError):
        code = 403

        def __init__(self) -> None:
            super().__init__("MissingAuthenticationToken", "Request is missing Authentication Token")

    original_auth = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def auth_is_on() -> bool:
        return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT

    def unsigned_by_design(response: Any) -> bool:
        target = response.headers.get("X-Amz-Target")
        if target in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
            return True  # moto's own list; original_auth lets them through
        if target == "AWSCognitoIdentityService.GetCredentialsForIdentity":
            return True
        return isinstance(response, TokenResponse) and response._get_action() == "AssumeRoleWithWebIdentity"

    def guarded_auth(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        # JSON-protocol services (those with X-Amz-Target) get their refusals as JSON, not XML,
        # so SDK clients see the error code (e.g. name "SignatureDoesNotMatch").
        json_protocol = self.headers.get("X-Amz-Target") is not None
        try:
            if auth_is_on() and self.headers.get("Authorization") is None:
                if unsigned_by_design(self):
                    return
                if isinstance(self, S3Response):
                    raise S3AccessDeniedError()
                raise MissingAuthenticationTokenError()
            original_auth(self, iam_request_cls, resource)
        except _RESTError as err:
            if json_protocol and not isinstance(err, JsonRESTError):
                raise err.to_json() from None
            raise

    ActionAuthenticatorMixin._authenticate_and_authorize_action = guarded_auth  # type: ignore[method-assign]

    # -- 2. the fixed identity key as an assumed role ------------------------------------------------
    original_get_credentials = CognitoIdentityBackend.get_credentials_for_identity

    def fixed_credentials(account_id: str, region: str) -> dict[str, str]:
        backend = cognitoidentity_backends[account_id][region]
        answer = json.loads(original_get_credentials(backend, "probe"))
        return answer["Credentials"]

    def register_fixed_key(account_id: str, region: str) -> None:
        creds = fixed_credentials(account_id, region)
        partition = get_partition(region)
        sts_backend = sts_backends[account_id][partition]
        for role in sts_backend.assumed_roles:
            if role.access_key_id == creds["AccessKeyId"]:
                return
        key = AccessKey(user_name=None, prefix="ASIA", account_id=account_id)
        key.access_key_id = creds["AccessKeyId"]
        key.secret_access_key = creds["SecretKey"]
        key.role_arn = identity_role_arn
        iam_backends[account_id][partition].access_keys[key.access_key_id] = key
        role = AssumedRole(
            account_id=account_id,
            region_name=region,
            access_key=key,
            role_session_name=FIXED_KEY_SESSION_NAME,
            role_arn=identity_role_arn,
            policy=None,  # type: ignore[arg-type]
            duration=12 * 3600,
            external_id=None,  # type: ignore[arg-type]
        )
        role.session_token = creds["SessionToken"]
        sts_backend.assumed_roles.append(role)

    def get_credentials_for_identity(self: Any, identity_id: str) -> str:
        register_fixed_key(self.account_id, self.region_name)
        return original_get_credentials(self, identity_id)

    CognitoIdentityBackend.get_credentials_for_identity = get_credentials_for_identity  # type: ignore[method-assign]
    register_fixed_key(identity_role_arn.split(":")[4], "us-east-1")

    # -- 3. DynamoDB authorized per table ARN ------------------------------------------------------
    def table_resources(handler: Any) -> list[str]:
        body = getattr(handler, "body", None)
        if not isinstance(body, dict):
            try:
                body = json.loads(body or "{}")
            except (TypeError, ValueError):
                return ["*"]
        prefix = f"arn:{get_partition(handler.region)}:dynamodb:{handler.region}:{handler.current_account}:table/"

        def arn(name: str, index: str | None = None) -> str:
            base = name if name.startswith("arn:") else prefix + name
            return f"{base}/index/{index}" if index else base

        found: list[str] = []
        if isinstance(body.get("TableName"), str):
            found.append(arn(body["TableName"], body.get("IndexName")))
        if isinstance(body.get("RequestItems"), dict):
            found.extend(arn(name) for name in body["RequestItems"])
        for item in body.get("TransactItems") or []:
            if isinstance(item, dict):
                for op in item.values():
                    if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                        found.append(arn(op["TableName"]))
        return sorted(set(found)) or ["*"]

    def dynamodb_auth(self: Any, resource: str = "*") -> None:
        for table in table_resources(self):
            ActionAuthenticatorMixin._authenticate_and_authorize_normal_action(self, table)

    DynamoHandler._authenticate_and_authorize_normal_action = dynamodb_auth  # type: ignore[method-assign]

    # -- 4. session policies -------------------------------------------------------------------------
    original_check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        original_check(self, resource)
        if not (state["enforce_session_policies"] or roles) or not isinstance(
            self._access_key, AssumedRoleAccessKey
        ):
            return
        sts_backend = sts_backends[self._access_key.account_id][self._access_key.partition]
        role = sts_backend.get_assumed_role_from_access_key(self._access_key._access_key_id)
        if role is None or not role.policy:
            return
        if not state["enforce_session_policies"] and role.role_arn not in roles:
            return
        if IAMPolicy(role.policy).is_action_permitted(self._action, resource) != PermissionResult.PERMITTED:
            self._raise_access_denied()

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
