"""moto, the AWS API emulator, in server mode for the aws specs and benchmarks.

    python aws_emulator.py INFO_FILE [INSTANCES]

Starts moto on a free loopback port and, through boto3 while authentication is still off:
an IAM user with an access key and an administrator policy, a role `deployer` it may assume,
INSTANCES instances in us-east-1 (default 25; Role web or db, Name web-N or db-N, Env prod;
above 100, tags per batch of 100)
and one in eu-west-1, a bucket `essh-spec`, and SSM parameters. Then it turns moto's request
authentication on (signatures and keys are checked from then on) and writes INFO_FILE, JSON:
{port, throttle_port, access_key, secret_key, account, role_arn, instances}, and serves
until it is killed.

THROTTLE_PORT is a proxy in front of moto: `POST /__throttle` with a number N in the body
makes the next N requests answer with AWS's Throttling error (HTTP 400); then requests go
through to moto unchanged. It also serves the user's keys as the ECS container endpoint does
(`GET /__container`, with `Authorization: container-token`) and as EC2's instance metadata
service does with IMDSv2 (`PUT /latest/api/token`, then `/latest/meta-data/iam/...` with
its token).
"""
import json
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


class AtomicConditions:
    """S3 applies a request's If-Match or If-None-Match and its write as one step; moto checks,
    then writes, so two conditional writes of one object could both pass. Taken one at a time,
    as S3 takes them, they cannot."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ:
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class Server(ThreadedMotoServer):
    def _server_entry(self):
        app = AtomicConditions(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def main():
    info_file = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    server = Server(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    endpoint = "http://127.0.0.1:%d" % port
    setup = dict(endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup")

    iam = boto3.client("iam", region_name="us-east-1", **setup)
    iam.create_user(UserName="essh")
    iam.put_user_policy(UserName="essh", PolicyName="admin", PolicyDocument=ADMIN)
    key = iam.create_access_key(UserName="essh")["AccessKey"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName="deployer", PolicyName="admin", PolicyDocument=ADMIN)

    ec2 = boto3.client("ec2", region_name="us-east-1", **setup)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    made = 0
    while made < count:
        n = min(100, count - made)
        # Beyond 100 instances (the benchmark's fleet) each batch gets its tags at launch:
        # tagging instances one by one slows down as moto's fleet grows.
        batch_tags = [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "web" if made % 200 == 0 else "db"},
                                                            {"Key": "Name", "Value": "batch-%d" % made}]}]
        ec2.run_instances(ImageId=image, MinCount=n, MaxCount=n, InstanceType="t3.micro",
                          TagSpecifications=batch_tags if count > 100 else [])
        made += n
    ids = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    for i, instance_id in enumerate(sorted(ids) if count <= 100 else []):
        role_tag = "web" if i % 2 == 0 else "db"
        ec2.create_tags(Resources=[instance_id], Tags=[
            {"Key": "Role", "Value": role_tag}, {"Key": "Name", "Value": "%s-%d" % (role_tag, i)},
            {"Key": "Env", "Value": "prod"}])
    west = boto3.client("ec2", region_name="eu-west-1", **setup)
    west_image = west.describe_images()["Images"][0]["ImageId"]
    west.run_instances(ImageId=west_image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "west-0"}, {"Key": "Role", "Value": "web"}]}])

    boto3.client("s3", region_name="us-east-1", **setup).create_bucket(Bucket="essh-spec")
    ssm = boto3.client("ssm", region_name="us-east-1", **setup)
    ssm.put_parameter(Name="/app/db/password", Value="s3cr3t-pa55", Type="SecureString")
    ssm.put_parameter(Name="/app/name", Value="shop", Type="String")

    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"})).read()

    throttle = Throttle(port, key)
    with open(info_file + ".tmp", "w") as f:
        json.dump({"port": port, "throttle_port": throttle.port, "access_key": key["AccessKeyId"],
                   "secret_key": key["SecretAccessKey"], "account": role["Arn"].split(":")[4],
                   "role_arn": role["Arn"], "instances": count}, f)
    import os
    os.rename(info_file + ".tmp", info_file)
    threading.Event().wait()  # until the spec's watchdog stops us


class Throttle:
    def __init__(self, upstream, key):
        self.pending = 0
        keys = json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"],
                           "Token": "", "Expiration": "2099-01-01T00:00:00Z", "Code": "Success"}).encode()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/__container":
                    if self.headers.get("Authorization") != "container-token":
                        return self.answer(401, b"no", {})
                    return self.answer(200, keys, {"Content-Type": "application/json"})
                if self.path == "/latest/api/token" and self.command == "PUT":
                    if not self.headers.get("x-aws-ec2-metadata-token-ttl-seconds"):
                        return self.answer(400, b"no ttl", {})
                    return self.answer(200, b"imds-token", {})
                if self.path.startswith("/latest/meta-data/"):
                    if self.headers.get("x-aws-ec2-metadata-token") != "imds-token":
                        return self.answer(401, b"IMDSv2 token required", {})
                    if self.path == "/latest/meta-data/iam/security-credentials/":
                        return self.answer(200, b"essh-instance-role", {})
                    if self.path == "/latest/meta-data/iam/security-credentials/essh-instance-role":
                        return self.answer(200, keys, {"Content-Type": "application/json"})
                    return self.answer(404, b"", {})
                if self.path == "/__throttle":
                    with outer.lock:
                        outer.pending = int(body or b"1")
                    return self.answer(200, b"ok", {})
                with outer.lock:
                    throttled = outer.pending > 0
                    if throttled:
                        outer.pending -= 1
                if throttled:
                    doc = (b"<Response><Errors><Error><Code>Throttling</Code><Message>Rate exceeded</Message>"
                           b"</Error></Errors><RequestID>x</RequestID></Response>")
                    return self.answer(400, doc, {"Content-Type": "text/xml"})
                req = urllib.request.Request("http://127.0.0.1:%d%s" % (upstream, self.path), data=body or None,
                                             method=self.command)
                for k, v in self.headers.items():
                    if k.lower() not in ("content-length", "connection"):
                        req.add_header(k, v)
                try:
                    resp = urllib.request.urlopen(req)
                    status, data, headers = resp.status, resp.read(), resp.headers
                except urllib.error.HTTPError as e:
                    status, data, headers = e.code, e.read(), e.headers
                self.answer(status, data, {k: v for k, v in headers.items()
                                           if k.lower() not in ("content-length", "connection", "transfer-encoding")})

            def answer(self, status, data, headers):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


if __name__ == "__main__":
    main()
