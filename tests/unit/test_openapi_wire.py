"""The services' operations survive the trip to the gateway as JSON: the document assembled from what they
serve is, byte for byte, the one assembled from their declarations in-process."""

from __future__ import annotations

import json

from services.gateway.openapi import SPEC_SERVICES
from shared.openapi import operations_from_json, operations_to_json
from tests.support.openapi import BY_SERVICE, OPERATIONS, build_document

PUBLIC_URL = "http://127.0.0.1:8080"


def test_the_document_from_the_wire_is_the_document_from_the_declarations():
    received = tuple(
        op
        for service in SPEC_SERVICES
        for op in operations_from_json(json.loads(json.dumps(operations_to_json(BY_SERVICE[service]))))
    )
    assert [(op.path, op.method) for op in received] == [(op.path, op.method) for op in OPERATIONS]
    assert json.dumps(build_document(PUBLIC_URL, received)) == json.dumps(build_document(PUBLIC_URL))
