"""boto3 against cupbearer, as a user would set it up (README "SDK mode"): the endpoint is
cupbearer, addressing is path-style, the keys are dummies and the ID token is the session token.

Settings come from the environment (CUPBEARER_*); every step's outcome is printed as one JSON
line, which the tap test (aws-clients.test.ts) asserts. AWS_CA_BUNDLE names the test CA.
"""

import hashlib
import json
import os
import sys
import tempfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

env = os.environ
url = env["CUPBEARER_URL"]
bucket = env["CUPBEARER_BUCKET"]
prefix = env["CUPBEARER_PREFIX"]
mode = env["CUPBEARER_MODE"]  # "moto" (defaults) or "s3rver" (no trailing checksums)


def say(step, **facts):
    print(json.dumps({"step": step, **facts}), flush=True)


def error_code(fn):
    try:
        fn()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


config = Config(
    s3={"addressing_style": "path"},
    retries={"max_attempts": 1},
    **({"request_checksum_calculation": "when_required"} if mode == "s3rver" else {}),
)
session = boto3.session.Session(
    aws_access_key_id="cupbearer",
    aws_secret_access_key="cupbearer",
    aws_session_token=env["CUPBEARER_TOKEN"],
    region_name="us-east-1",
)
s3 = session.client("s3", endpoint_url=url, config=config)

key = f"{prefix}boto3/hello.txt"
put = s3.put_object(Bucket=bucket, Key=key, Body=b"hello from boto3")
say("put_object", status=put["ResponseMetadata"]["HTTPStatusCode"],
    identity=put["ResponseMetadata"]["HTTPHeaders"].get("x-cupbearer-identity-id"))

if mode == "s3rver":
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}boto3/")
    say("list", keys=[o["Key"] for o in listed.get("Contents", [])])
    say("get", body=s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
    sys.exit(0)

size = int(env.get("CUPBEARER_BIG_BYTES", str(20 * 1024 * 1024)))
with tempfile.TemporaryDirectory() as tmp:
    source = os.path.join(tmp, "big.bin")
    with open(source, "wb") as f:
        f.write(os.urandom(size))
    big = f"{prefix}boto3/big.bin"
    s3.upload_file(source, bucket, big)
    back = os.path.join(tmp, "back.bin")
    s3.download_file(bucket, big, back)
    digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
    say("upload_download", same=digest(source) == digest(back), size=os.path.getsize(back))

head = s3.head_object(Bucket=bucket, Key=key)
say("head", length=head["ContentLength"])
s3.copy_object(Bucket=bucket, Key=f"{prefix}boto3/copy.txt", CopySource={"Bucket": bucket, "Key": key})
say("copy", body=s3.get_object(Bucket=bucket, Key=f"{prefix}boto3/copy.txt")["Body"].read().decode())
s3.delete_object(Bucket=bucket, Key=f"{prefix}boto3/copy.txt")
say("delete", code=error_code(lambda: s3.head_object(Bucket=bucket, Key=f"{prefix}boto3/copy.txt")))
say("outside", code=error_code(lambda: s3.put_object(Bucket=bucket, Key="someone-else/x.txt", Body=b"x")))

ddb = session.client("dynamodb", endpoint_url=url, config=config)
table = env["CUPBEARER_TABLE"]
pk = env["CUPBEARER_PK"]
ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "note": {"S": "from boto3"}})
got = ddb.get_item(TableName=table, Key={"pk": {"S": pk}})
say("get_item", item=got.get("Item"))
queried = ddb.query(
    TableName=table,
    KeyConditionExpression="pk = :p",
    ExpressionAttributeValues={":p": {"S": pk}},
)
say("query", count=queried["Count"])
say("forbidden_table", code=error_code(
    lambda: ddb.get_item(TableName=env["CUPBEARER_FORBIDDEN_TABLE"], Key={"pk": {"S": "1"}})))
# A request that makes the service quote the access key id back (an unused placeholder named
# after it): cupbearer scrubs the quote, and the answer must not keep a checksum (x-amz-crc32)
# of the body it no longer has, or botocore raises ChecksumError instead of the real error.
try:
    ddb.query(
        TableName=table,
        KeyConditionExpression="#p = :p",
        ExpressionAttributeNames={"#p": "pk", "#" + env["CUPBEARER_ECHO_KEY"]: "x"},
        ExpressionAttributeValues={":p": {"S": pk}},
    )
    say("echo", code=None)
except ClientError as err:
    say("echo", code=err.response["Error"]["Code"], message=err.response["Error"].get("Message", ""),
        crc32=err.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-crc32"))
