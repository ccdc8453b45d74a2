"""Verifies an x-amzn-oidc-data value the way AWS documents it for ALB (Elastic Load Balancing
guide, "Authenticate users using an Application Load Balancer", user claims encoding and
signature verification): read the kid from the JWT header, fetch the PEM public key by kid from
the key endpoint, and decode with PyJWT, ES256 only. The header is read with PyJWT rather than
base64.b64decode, because cupbearer's JWT is unpadded base64url as RFC 7515 requires.

Usage: alb_verify.py <x-amzn-oidc-data> <key endpoint base URL ending in />
Prints {"header": ..., "payload": ...} as JSON; exits 1 with the error on stderr when refused.
"""
import json
import sys
import urllib.request

import jwt

encoded_jwt, key_base = sys.argv[1], sys.argv[2]
try:
    header = jwt.get_unverified_header(encoded_jwt)
    with urllib.request.urlopen(key_base + header["kid"], timeout=10) as answer:
        pub_key = answer.read().decode("utf-8")
    payload = jwt.decode(encoded_jwt, pub_key, algorithms=["ES256"])
except Exception as err:  # noqa: BLE001 - the test reads the refusal's text
    print(f"{type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"header": header, "payload": payload}))
