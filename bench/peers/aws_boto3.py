"""boto3, the peer of bench/aws.lua: one operation against the emulator, timed in-process.

    python aws_boto3.py ENDPOINT ACCESS SECRET describe
    python aws_boto3.py ENDPOINT ACCESS SECRET put FILE BUCKET KEY
    python aws_boto3.py ENDPOINT ACCESS SECRET get BUCKET KEY FILE

Prints the seconds the operation took (the client made beforehand), and for describe the count.
"""
import sys
import time

import boto3

endpoint, access, secret, op = sys.argv[1:5]
session = boto3.session.Session(aws_access_key_id=access, aws_secret_access_key=secret, region_name="us-east-1")
if op == "describe":
    ec2 = session.client("ec2", endpoint_url=endpoint)
    start = time.perf_counter()
    n = sum(len(r["Instances"]) for page in ec2.get_paginator("describe_instances").paginate()
            for r in page["Reservations"])
    print(time.perf_counter() - start, n)
else:
    s3 = session.client("s3", endpoint_url=endpoint)
    start = time.perf_counter()
    if op == "put":
        s3.upload_file(sys.argv[5], sys.argv[6], sys.argv[7])
    else:
        s3.download_file(sys.argv[5], sys.argv[6], sys.argv[7])
    print(time.perf_counter() - start)
