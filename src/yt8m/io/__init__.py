"""Official-format YouTube-8M I/O: TFRecords, tf.train.Example codecs, columnar shards."""

from .errors import RecordError
from .paths import expand_paths
from .quantization import MAX_QUANTIZED_VALUE, MIN_QUANTIZED_VALUE, dequantize, quantize
from .report import ReadStats, SkippedRecord, UnreadTail
from .reader import RecordWriter, count_records, file_format, read_file, read_records, write_records
from .records import (
    DEFAULT_NUM_CLASSES,
    KINDS,
    SEGMENT_SIZE,
    RecordSchema,
    SparseFrames,
    VideoRecord,
    decode_record,
    encode_record,
    records_equal,
)
from .shards import ShardFile, ShardWriter, shard_schema
from .tfrecord import TFRecordWriter, iter_tfrecord, masked_crc32c

__all__ = [
    "DEFAULT_NUM_CLASSES", "KINDS", "MAX_QUANTIZED_VALUE", "MIN_QUANTIZED_VALUE", "SEGMENT_SIZE",
    "ReadStats", "RecordError", "SkippedRecord", "UnreadTail", "RecordSchema", "RecordWriter", "ShardFile", "ShardWriter", "SparseFrames",
    "TFRecordWriter", "VideoRecord", "count_records", "decode_record", "dequantize", "encode_record",
    "expand_paths", "file_format", "iter_tfrecord", "masked_crc32c", "quantize", "read_file", "read_records",
    "records_equal", "shard_schema", "write_records",
]
