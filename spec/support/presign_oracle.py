"""botocore's signature for a presigned S3 URL, as the oracle of essh's presigning.

    python presign_oracle.py URL ACCESS_KEY SECRET_KEY REGION

Reads the URL's X-Amz-* parameters (its time and expiry among them), signs the same request
with botocore's S3SigV4QueryAuth at that time, and prints botocore's X-Amz-Signature.
"""
import sys
from urllib.parse import urlsplit, parse_qsl, urlencode, quote

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, access, secret, region = sys.argv[1:5]
parts = urlsplit(url)
query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "X-Amz-Signature"]
params = dict(query)
auth = S3SigV4QueryAuth(Credentials(access, secret, params.get("X-Amz-Security-Token")), "s3", region,
                        expires=int(params["X-Amz-Expires"]))
unsigned = parts._replace(query=urlencode(query, quote_via=quote)).geturl()
request = AWSRequest(method=sys.argv[5] if len(sys.argv) > 5 else "GET", url=unsigned)
request.context["timestamp"] = params["X-Amz-Date"]
canonical = auth.canonical_request(request)
print(auth.signature(auth.string_to_sign(request, canonical), request))
