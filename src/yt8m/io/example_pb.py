"""tf.train.Example / SequenceExample messages, declared here with the protobuf package.

The schema is built in code from a FileDescriptorProto (field numbers as in TensorFlow's
example.proto / feature.proto), so reading the dataset needs neither TensorFlow nor generated code.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "yt8m.tfexample"  # our own package name; the wire format does not carry it


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, fields: list[tuple]) -> descriptor_pb2.DescriptorProto:
    msg = file.message_type.add(name=name)
    for field_name, number, ftype, label, type_name, *extra in fields:
        field = msg.field.add(name=field_name, number=number, type=ftype, label=label)
        if type_name:
            field.type_name = type_name
        if extra and extra[0] == "oneof":
            field.oneof_index = 0
        if extra and extra[0] == "packed":
            field.options.packed = True
    return msg


def _map_entry(msg: descriptor_pb2.DescriptorProto, entry: str, value_type: str) -> None:
    nested = msg.nested_type.add(name=entry)
    nested.options.map_entry = True
    nested.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    nested.field.add(name="value", number=2, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL, type_name=value_type)


def _build_file() -> descriptor_pb2.FileDescriptorProto:
    p = f".{_PACKAGE}."
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    f = descriptor_pb2.FileDescriptorProto(name="yt8m/tf_example.proto", package=_PACKAGE, syntax="proto3")
    _message(f, "BytesList", [("value", 1, _F.TYPE_BYTES, rep, None)])
    _message(f, "FloatList", [("value", 1, _F.TYPE_FLOAT, rep, None, "packed")])
    _message(f, "Int64List", [("value", 1, _F.TYPE_INT64, rep, None, "packed")])
    feature = _message(
        f,
        "Feature",
        [
            ("bytes_list", 1, _F.TYPE_MESSAGE, opt, p + "BytesList", "oneof"),
            ("float_list", 2, _F.TYPE_MESSAGE, opt, p + "FloatList", "oneof"),
            ("int64_list", 3, _F.TYPE_MESSAGE, opt, p + "Int64List", "oneof"),
        ],
    )
    feature.oneof_decl.add(name="kind")
    features = _message(f, "Features", [("feature", 1, _F.TYPE_MESSAGE, rep, p + "Features.FeatureEntry")])
    _map_entry(features, "FeatureEntry", p + "Feature")
    _message(f, "FeatureList", [("feature", 1, _F.TYPE_MESSAGE, rep, p + "Feature")])
    lists = _message(f, "FeatureLists", [("feature_list", 1, _F.TYPE_MESSAGE, rep, p + "FeatureLists.FeatureListEntry")])
    _map_entry(lists, "FeatureListEntry", p + "FeatureList")
    _message(f, "Example", [("features", 1, _F.TYPE_MESSAGE, opt, p + "Features")])
    _message(
        f,
        "SequenceExample",
        [
            ("context", 1, _F.TYPE_MESSAGE, opt, p + "Features"),
            ("feature_lists", 2, _F.TYPE_MESSAGE, opt, p + "FeatureLists"),
        ],
    )
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_build_file())


def _cls(name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))


Example = _cls("Example")
SequenceExample = _cls("SequenceExample")
Features = _cls("Features")
Feature = _cls("Feature")
FeatureList = _cls("FeatureList")
FeatureLists = _cls("FeatureLists")
BytesList = _cls("BytesList")
FloatList = _cls("FloatList")
Int64List = _cls("Int64List")
