"""A gRPC client that is not ours: Python grpcio with the stubs compiled from
proto/ by grpcio-tools at run time. Calls the registry, health and reflection.

Usage: registry_client.py HOST:PORT PROTO_DIR OPERATOR_CREDENTIAL TOKEN_PART_CREDENTIAL

Every call but the health check carries a credential as `authorization: Bearer`
metadata: the operator's for accounts and applications, the token service's for
client authentication (its edge); a call without one is UNAUTHENTICATED.
"""
import importlib
import sys
import tempfile

import grpc
from grpc_tools import protoc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: F401  (grpcio-health-checking)


def compile_protos(proto_dir: str, out: str) -> None:
    files = [
        "gatehouse/common/v1/common.proto",
        "gatehouse/registry/v1/registry.proto",
    ]
    code = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")


def main() -> None:
    address, proto_dir, operator, token_part = sys.argv[1:5]
    as_operator = (("authorization", f"Bearer {operator}"),)
    as_token = (("authorization", f"Bearer {token_part}"),)
    out = tempfile.mkdtemp()
    compile_protos(proto_dir, out)
    sys.path.insert(0, out)
    registry_pb2 = importlib.import_module("gatehouse.registry.v1.registry_pb2")
    registry_grpc = importlib.import_module("gatehouse.registry.v1.registry_pb2_grpc")
    common_pb2 = importlib.import_module("gatehouse.common.v1.common_pb2")

    channel = grpc.insecure_channel(address)
    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    print("health", health_pb2.HealthCheckResponse.ServingStatus.Name(status.status))

    registry = registry_grpc.RegistryServiceStub(channel)
    try:
        registry.GetUser(registry_pb2.GetUserRequest(username="pyuser"), timeout=5)
        raise SystemExit("a call without a credential was answered")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.code()
    user = registry.CreateUser(
        registry_pb2.CreateUserRequest(username="pyuser", email="py@example.com", password="correct horse battery"),
        timeout=5,
        metadata=as_operator,
    ).user
    app = registry.RegisterApplication(
        registry_pb2.RegisterApplicationRequest(
            owner_id=user.id,
            name="Python app",
            redirect_uris=["https://py.example/cb"],
            client_type=common_pb2.CLIENT_TYPE_CONFIDENTIAL,
            scopes=["user"],
        ),
        timeout=5,
        metadata=as_operator,
    )
    authenticated = registry.AuthenticateClient(
        registry_pb2.AuthenticateClientRequest(client_id=app.application.client_id, client_secret=app.client_secret),
        timeout=5,
        metadata=as_token,
    )
    assert authenticated.application.client_id == app.application.client_id
    try:
        registry.AuthenticateClient(
            registry_pb2.AuthenticateClientRequest(client_id=app.application.client_id, client_secret="wrong"),
            timeout=5,
            metadata=as_token,
        )
        raise SystemExit("a wrong secret authenticated")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.code()
    try:
        registry.CreateUser(registry_pb2.CreateUserRequest(username="pyuser", email="py@example.com", password="correct horse battery"), timeout=5, metadata=as_operator)
        raise SystemExit("a duplicate user was created")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS, error.code()
    print("registry ok", app.application.client_id)


if __name__ == "__main__":
    main()
