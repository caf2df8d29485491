"""grpc_stubs.py — Python gRPC stubs (Debian's python3-grpcio) generated at
test time with python3-grpc-tools' protoc: mydev's own from proto/mydev.proto,
and — for a client that never saw mydev's .proto files — grpc.health.v1 and
grpc.reflection.v1alpha from Debian's grpc-proto package (/usr/share/grpc-proto),
each in a directory of its own.

    stubs = generate_stubs(tmpdir)
    stubs.mydev_pb2.GetStatsRequest()
    stubs.health_pb2_grpc.HealthStub(channel).Check(stubs.health_pb2.HealthCheckRequest())
    list_services(stubs, channel)            # reflection: ["grpc.health.v1.Health", ...]
    dynamic_get_stats(stubs, channel, md)    # GetStats with descriptors from reflection
"""
import importlib
import os
import shutil
import subprocess
import sys
import types

GRPC_PROTO = "/usr/share/grpc-proto"
PYTHON = "/usr/bin/python3"  # Debian's, where python3-grpcio lives


def _protoc(include, out, files):
    os.makedirs(out, exist_ok=True)
    r = subprocess.run([PYTHON, "-m", "grpc_tools.protoc", "-I" + include, "--python_out=" + out,
                        "--grpc_python_out=" + out] + files, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr


def _import(directory, names):
    sys.path.insert(0, directory)
    try:
        return [importlib.import_module(n) for n in names]
    finally:
        sys.path.remove(directory)


def generate_stubs(out_dir, mydev_proto):
    """Generates and imports the stubs; returns a namespace of modules:
    mydev_pb2(_grpc), health_pb2(_grpc), reflection_pb2(_grpc)."""
    ns = types.SimpleNamespace()
    mydev_dir = os.path.join(out_dir, "mydev")
    _protoc(os.path.dirname(mydev_proto), mydev_dir, [mydev_proto])
    ns.mydev_pb2, ns.mydev_pb2_grpc = _import(mydev_dir, ["mydev_pb2", "mydev_pb2_grpc"])
    # The standard protos, flattened (a package named `grpc` would hide grpcio's).
    generic_dir = os.path.join(out_dir, "generic")
    src = os.path.join(out_dir, "generic-src")
    os.makedirs(src, exist_ok=True)
    for rel in ("grpc/health/v1/health.proto", "grpc/reflection/v1alpha/reflection.proto"):
        shutil.copy(os.path.join(GRPC_PROTO, rel), src)
    _protoc(src, generic_dir, [os.path.join(src, "health.proto"),
                               os.path.join(src, "reflection.proto")])
    (ns.health_pb2, ns.health_pb2_grpc, ns.reflection_pb2,
     ns.reflection_pb2_grpc) = _import(generic_dir, ["health_pb2", "health_pb2_grpc",
                                                     "reflection_pb2", "reflection_pb2_grpc"])
    return ns


def health(stubs, channel, service="", metadata=None):
    """grpc.health.v1.Health/Check: "SERVING", "NOT_SERVING", ..."""
    resp = stubs.health_pb2_grpc.HealthStub(channel).Check(
        stubs.health_pb2.HealthCheckRequest(service=service), timeout=5, metadata=metadata)
    return stubs.health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def _reflect(stubs, channel, request, metadata=None):
    stub = stubs.reflection_pb2_grpc.ServerReflectionStub(channel)
    for resp in stub.ServerReflectionInfo(iter([request]), timeout=5, metadata=metadata):
        return resp
    raise AssertionError("no reflection response")


def list_services(stubs, channel, metadata=None):
    """The services the server lists through reflection (sorted names)."""
    resp = _reflect(stubs, channel, stubs.reflection_pb2.ServerReflectionRequest(list_services=""),
                    metadata)
    return sorted(s.name for s in resp.list_services_response.service)


def dynamic_get_stats(stubs, channel, metadata=None):
    """Stats/GetStats called with message classes built from the descriptors
    reflection returns (no mydev_pb2): the snapshot, as a dynamic message."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    resp = _reflect(stubs, channel, stubs.reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="mydev.v1.Stats"), metadata)
    pool = descriptor_pool.DescriptorPool()
    for blob in resp.file_descriptor_response.file_descriptor_proto:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(blob))
    factory = message_factory.MessageFactory(pool)
    request = factory.GetPrototype(pool.FindMessageTypeByName("mydev.v1.GetStatsRequest"))
    snapshot = factory.GetPrototype(pool.FindMessageTypeByName("mydev.v1.StatsSnapshot"))
    call = channel.unary_unary("/mydev.v1.Stats/GetStats",
                               request_serializer=request.SerializeToString,
                               response_deserializer=snapshot.FromString)
    return call(request(), timeout=5, metadata=metadata)
