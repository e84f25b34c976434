from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_PNG: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_RGBA: _ClassVar[OutputFormat]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_PNG: OutputFormat
OUTPUT_FORMAT_RGBA: OutputFormat
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class ImageData(_message.Message):
    __slots__ = ("encoded", "rgba")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RGBA_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    rgba: RgbaImage
    def __init__(self, encoded: _Optional[bytes] = ..., rgba: _Optional[_Union[RgbaImage, _Mapping]] = ...) -> None: ...

class RgbaImage(_message.Message):
    __slots__ = ("data", "width", "height")
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    width: int
    height: int
    def __init__(self, data: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class StyleOptions(_message.Message):
    __slots__ = ("preset", "max_size", "steps", "coarse_steps", "style_weight", "style_strength", "content_weight", "tv_weight", "preserve_colors", "seed", "optimizer", "init", "pooling", "multiscale", "style_scale", "output_size", "content_layers", "style_layers", "learning_rate", "min_size", "style_layer_weights", "tile_size", "precision")
    PRESET_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    COARSE_STEPS_FIELD_NUMBER: _ClassVar[int]
    STYLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STYLE_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    CONTENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TV_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_COLORS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    POOLING_FIELD_NUMBER: _ClassVar[int]
    MULTISCALE_FIELD_NUMBER: _ClassVar[int]
    STYLE_SCALE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_LAYERS_FIELD_NUMBER: _ClassVar[int]
    STYLE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    STYLE_LAYER_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    preset: str
    max_size: int
    steps: int
    coarse_steps: int
    style_weight: float
    style_strength: float
    content_weight: float
    tv_weight: float
    preserve_colors: str
    seed: int
    optimizer: str
    init: str
    pooling: str
    multiscale: bool
    style_scale: float
    output_size: str
    content_layers: _containers.RepeatedScalarFieldContainer[str]
    style_layers: _containers.RepeatedScalarFieldContainer[str]
    learning_rate: float
    min_size: int
    style_layer_weights: _containers.RepeatedScalarFieldContainer[float]
    tile_size: int
    precision: str
    def __init__(self, preset: _Optional[str] = ..., max_size: _Optional[int] = ..., steps: _Optional[int] = ..., coarse_steps: _Optional[int] = ..., style_weight: _Optional[float] = ..., style_strength: _Optional[float] = ..., content_weight: _Optional[float] = ..., tv_weight: _Optional[float] = ..., preserve_colors: _Optional[str] = ..., seed: _Optional[int] = ..., optimizer: _Optional[str] = ..., init: _Optional[str] = ..., pooling: _Optional[str] = ..., multiscale: _Optional[bool] = ..., style_scale: _Optional[float] = ..., output_size: _Optional[str] = ..., content_layers: _Optional[_Iterable[str]] = ..., style_layers: _Optional[_Iterable[str]] = ..., learning_rate: _Optional[float] = ..., min_size: _Optional[int] = ..., style_layer_weights: _Optional[_Iterable[float]] = ..., tile_size: _Optional[int] = ..., precision: _Optional[str] = ...) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("content", "styles", "style_blend", "options", "init_image", "preview", "preview_interval_seconds", "preview_max_size", "output_format", "regions")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    STYLE_BLEND_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    content: ImageData
    styles: _containers.RepeatedCompositeFieldContainer[ImageData]
    style_blend: _containers.RepeatedScalarFieldContainer[float]
    options: StyleOptions
    init_image: ImageData
    preview: bool
    preview_interval_seconds: float
    preview_max_size: int
    output_format: OutputFormat
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, content: _Optional[_Union[ImageData, _Mapping]] = ..., styles: _Optional[_Iterable[_Union[ImageData, _Mapping]]] = ..., style_blend: _Optional[_Iterable[float]] = ..., options: _Optional[_Union[StyleOptions, _Mapping]] = ..., init_image: _Optional[_Union[ImageData, _Mapping]] = ..., preview: _Optional[bool] = ..., preview_interval_seconds: _Optional[float] = ..., preview_max_size: _Optional[int] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

class Region(_message.Message):
    __slots__ = ("mask", "styles", "style_blend", "strength")
    MASK_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    STYLE_BLEND_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    mask: ImageData
    styles: _containers.RepeatedCompositeFieldContainer[ImageData]
    style_blend: _containers.RepeatedScalarFieldContainer[float]
    strength: float
    def __init__(self, mask: _Optional[_Union[ImageData, _Mapping]] = ..., styles: _Optional[_Iterable[_Union[ImageData, _Mapping]]] = ..., style_blend: _Optional[_Iterable[float]] = ..., strength: _Optional[float] = ...) -> None: ...

class JobQueued(_message.Message):
    __slots__ = ("job_id", "position")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    position: int
    def __init__(self, job_id: _Optional[str] = ..., position: _Optional[int] = ...) -> None: ...

class JobStarted(_message.Message):
    __slots__ = ("job_id", "server_name")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    server_name: str
    def __init__(self, job_id: _Optional[str] = ..., server_name: _Optional[str] = ...) -> None: ...

class JobProgress(_message.Message):
    __slots__ = ("stage", "stages", "step", "total", "overall_step", "overall_total", "losses", "elapsed_seconds", "eta_seconds", "width", "height", "tile", "tiles")
    class LossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STAGE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    OVERALL_STEP_FIELD_NUMBER: _ClassVar[int]
    OVERALL_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TILE_FIELD_NUMBER: _ClassVar[int]
    TILES_FIELD_NUMBER: _ClassVar[int]
    stage: int
    stages: int
    step: int
    total: int
    overall_step: int
    overall_total: int
    losses: _containers.ScalarMap[str, float]
    elapsed_seconds: float
    eta_seconds: float
    width: int
    height: int
    tile: int
    tiles: int
    def __init__(self, stage: _Optional[int] = ..., stages: _Optional[int] = ..., step: _Optional[int] = ..., total: _Optional[int] = ..., overall_step: _Optional[int] = ..., overall_total: _Optional[int] = ..., losses: _Optional[_Mapping[str, float]] = ..., elapsed_seconds: _Optional[float] = ..., eta_seconds: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., tile: _Optional[int] = ..., tiles: _Optional[int] = ...) -> None: ...

class JobPreview(_message.Message):
    __slots__ = ("png", "width", "height")
    PNG_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    png: bytes
    width: int
    height: int
    def __init__(self, png: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ResultChunk(_message.Message):
    __slots__ = ("data", "offset", "total_bytes", "width", "height", "format", "last")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    total_bytes: int
    width: int
    height: int
    format: OutputFormat
    last: bool
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ..., total_bytes: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[OutputFormat, str]] = ..., last: _Optional[bool] = ...) -> None: ...

class JobFinished(_message.Message):
    __slots__ = ("wall_time_seconds", "steps", "cache_hit", "style_cache_hits", "queue_seconds", "losses")
    class LossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WALL_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    STYLE_CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    wall_time_seconds: float
    steps: int
    cache_hit: bool
    style_cache_hits: int
    queue_seconds: float
    losses: _containers.ScalarMap[str, float]
    def __init__(self, wall_time_seconds: _Optional[float] = ..., steps: _Optional[int] = ..., cache_hit: _Optional[bool] = ..., style_cache_hits: _Optional[int] = ..., queue_seconds: _Optional[float] = ..., losses: _Optional[_Mapping[str, float]] = ...) -> None: ...

class StylizeResponse(_message.Message):
    __slots__ = ("queued", "started", "progress", "preview", "result", "finished")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    queued: JobQueued
    started: JobStarted
    progress: JobProgress
    preview: JobPreview
    result: ResultChunk
    finished: JobFinished
    def __init__(self, queued: _Optional[_Union[JobQueued, _Mapping]] = ..., started: _Optional[_Union[JobStarted, _Mapping]] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., preview: _Optional[_Union[JobPreview, _Mapping]] = ..., result: _Optional[_Union[ResultChunk, _Mapping]] = ..., finished: _Optional[_Union[JobFinished, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("cancelled", "state")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    cancelled: bool
    state: JobState
    def __init__(self, cancelled: _Optional[bool] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("state", "error")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    error: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., error: _Optional[str] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_pixels", "max_request_bytes", "queue_size", "cache_bytes", "max_styles", "max_request_pixels", "queue_bytes", "max_preview_size", "receive_seconds", "stall_seconds", "calls", "memory_budget_bytes", "max_decoded_bytes", "max_regions", "max_region_strength", "max_frames", "max_sequence_pixels")
    MAX_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUEUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLES_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_PIXELS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PREVIEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    STALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_DECODED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_REGIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_REGION_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQUENCE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    max_pixels: int
    max_request_bytes: int
    queue_size: int
    cache_bytes: int
    max_styles: int
    max_request_pixels: int
    queue_bytes: int
    max_preview_size: int
    receive_seconds: float
    stall_seconds: float
    calls: _containers.RepeatedCompositeFieldContainer[CallLimit]
    memory_budget_bytes: int
    max_decoded_bytes: int
    max_regions: int
    max_region_strength: float
    max_frames: int
    max_sequence_pixels: int
    def __init__(self, max_pixels: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., queue_size: _Optional[int] = ..., cache_bytes: _Optional[int] = ..., max_styles: _Optional[int] = ..., max_request_pixels: _Optional[int] = ..., queue_bytes: _Optional[int] = ..., max_preview_size: _Optional[int] = ..., receive_seconds: _Optional[float] = ..., stall_seconds: _Optional[float] = ..., calls: _Optional[_Iterable[_Union[CallLimit, _Mapping]]] = ..., memory_budget_bytes: _Optional[int] = ..., max_decoded_bytes: _Optional[int] = ..., max_regions: _Optional[int] = ..., max_region_strength: _Optional[float] = ..., max_frames: _Optional[int] = ..., max_sequence_pixels: _Optional[int] = ...) -> None: ...

class CallLimit(_message.Message):
    __slots__ = ("kind", "methods", "max_calls", "max_receiving")
    KIND_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    MAX_CALLS_FIELD_NUMBER: _ClassVar[int]
    MAX_RECEIVING_FIELD_NUMBER: _ClassVar[int]
    kind: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    max_calls: int
    max_receiving: int
    def __init__(self, kind: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., max_calls: _Optional[int] = ..., max_receiving: _Optional[int] = ...) -> None: ...

class OptionInfo(_message.Message):
    __slots__ = ("name", "kind", "help", "choices", "minimum", "maximum", "exclusive_minimum", "max_items")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_MINIMUM_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    help: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    minimum: float
    maximum: float
    exclusive_minimum: bool
    max_items: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., help: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., minimum: _Optional[float] = ..., maximum: _Optional[float] = ..., exclusive_minimum: _Optional[bool] = ..., max_items: _Optional[int] = ...) -> None: ...

class Preset(_message.Message):
    __slots__ = ("name", "max_size", "steps", "coarse_steps", "content_weight", "style_weight", "tv_weight", "label", "help")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    COARSE_STEPS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STYLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TV_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_size: int
    steps: int
    coarse_steps: int
    content_weight: float
    style_weight: float
    tv_weight: float
    label: str
    help: str
    def __init__(self, name: _Optional[str] = ..., max_size: _Optional[int] = ..., steps: _Optional[int] = ..., coarse_steps: _Optional[int] = ..., content_weight: _Optional[float] = ..., style_weight: _Optional[float] = ..., tv_weight: _Optional[float] = ..., label: _Optional[str] = ..., help: _Optional[str] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("version", "device", "weights_source", "weights_sha256", "preprocessing", "limits", "presets", "default_preset", "layer_names", "default_content_layers", "default_style_layers", "auth_required", "options", "server_name", "auto_precision", "auto_precision_reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSING_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    PRESETS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PRESET_FIELD_NUMBER: _ClassVar[int]
    LAYER_NAMES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONTENT_LAYERS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STYLE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    AUTO_PRECISION_FIELD_NUMBER: _ClassVar[int]
    AUTO_PRECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    version: str
    device: str
    weights_source: str
    weights_sha256: str
    preprocessing: str
    limits: Limits
    presets: _containers.RepeatedCompositeFieldContainer[Preset]
    default_preset: str
    layer_names: _containers.RepeatedScalarFieldContainer[str]
    default_content_layers: _containers.RepeatedScalarFieldContainer[str]
    default_style_layers: _containers.RepeatedScalarFieldContainer[str]
    auth_required: bool
    options: _containers.RepeatedCompositeFieldContainer[OptionInfo]
    server_name: str
    auto_precision: str
    auto_precision_reason: str
    def __init__(self, version: _Optional[str] = ..., device: _Optional[str] = ..., weights_source: _Optional[str] = ..., weights_sha256: _Optional[str] = ..., preprocessing: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., presets: _Optional[_Iterable[_Union[Preset, _Mapping]]] = ..., default_preset: _Optional[str] = ..., layer_names: _Optional[_Iterable[str]] = ..., default_content_layers: _Optional[_Iterable[str]] = ..., default_style_layers: _Optional[_Iterable[str]] = ..., auth_required: _Optional[bool] = ..., options: _Optional[_Iterable[_Union[OptionInfo, _Mapping]]] = ..., server_name: _Optional[str] = ..., auto_precision: _Optional[str] = ..., auto_precision_reason: _Optional[str] = ...) -> None: ...

class SequenceOptions(_message.Message):
    __slots__ = ("temporal_weight", "later_steps", "independent")
    TEMPORAL_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    LATER_STEPS_FIELD_NUMBER: _ClassVar[int]
    INDEPENDENT_FIELD_NUMBER: _ClassVar[int]
    temporal_weight: float
    later_steps: float
    independent: bool
    def __init__(self, temporal_weight: _Optional[float] = ..., later_steps: _Optional[float] = ..., independent: _Optional[bool] = ...) -> None: ...

class StylizeSequenceRequest(_message.Message):
    __slots__ = ("frames", "styles", "style_blend", "options", "sequence", "preview", "preview_interval_seconds", "preview_max_size", "output_format", "regions")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    STYLE_BLEND_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[ImageData]
    styles: _containers.RepeatedCompositeFieldContainer[ImageData]
    style_blend: _containers.RepeatedScalarFieldContainer[float]
    options: StyleOptions
    sequence: SequenceOptions
    preview: bool
    preview_interval_seconds: float
    preview_max_size: int
    output_format: OutputFormat
    regions: _containers.RepeatedCompositeFieldContainer[Region]
    def __init__(self, frames: _Optional[_Iterable[_Union[ImageData, _Mapping]]] = ..., styles: _Optional[_Iterable[_Union[ImageData, _Mapping]]] = ..., style_blend: _Optional[_Iterable[float]] = ..., options: _Optional[_Union[StyleOptions, _Mapping]] = ..., sequence: _Optional[_Union[SequenceOptions, _Mapping]] = ..., preview: _Optional[bool] = ..., preview_interval_seconds: _Optional[float] = ..., preview_max_size: _Optional[int] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., regions: _Optional[_Iterable[_Union[Region, _Mapping]]] = ...) -> None: ...

class SequenceProgress(_message.Message):
    __slots__ = ("frame", "frames", "progress", "eta_seconds")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    frames: int
    progress: JobProgress
    eta_seconds: float
    def __init__(self, frame: _Optional[int] = ..., frames: _Optional[int] = ..., progress: _Optional[_Union[JobProgress, _Mapping]] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class FrameChunk(_message.Message):
    __slots__ = ("index", "chunk")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    index: int
    chunk: ResultChunk
    def __init__(self, index: _Optional[int] = ..., chunk: _Optional[_Union[ResultChunk, _Mapping]] = ...) -> None: ...

class StylizeSequenceResponse(_message.Message):
    __slots__ = ("queued", "started", "progress", "preview", "frame", "finished")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    queued: JobQueued
    started: JobStarted
    progress: SequenceProgress
    preview: JobPreview
    frame: FrameChunk
    finished: JobFinished
    def __init__(self, queued: _Optional[_Union[JobQueued, _Mapping]] = ..., started: _Optional[_Union[JobStarted, _Mapping]] = ..., progress: _Optional[_Union[SequenceProgress, _Mapping]] = ..., preview: _Optional[_Union[JobPreview, _Mapping]] = ..., frame: _Optional[_Union[FrameChunk, _Mapping]] = ..., finished: _Optional[_Union[JobFinished, _Mapping]] = ...) -> None: ...
