"""Layer specs: frozen dataclasses, one per YAML `type`, each reading its keys, building its module
and holding its closed-form arithmetic; split by family (base, activations, conv, pooling, plain,
composites, blocks) behind one registry, LAYER_TYPES, which importing this package fills."""
from ..reader import MAX_CHANNELS, MAX_PATHS, MAX_ROWS
from .activations import ACTIVATION_CHOICES, ACTIVATION_SPECS, ACTIVATIONS, ActivationSpec, ReLUSpec
from .base import (LAYER_TYPES, Cost, Field, Layer, ModuleKit, Pair, PaperFigures, Shape, Traffic, feature_map,
                   layer_type, numel, path_out, walk)
from .blocks import COLUMN_ROLES, INCEPTION_COLUMNS, REDUCE_COLUMNS, InceptionSpec, SESpec, factorized_5x5, make_divisible
from .composites import (MERGES, BranchesSpec, CompositeSpec, ParallelSpec, RepeatSpec, SequenceSpec, passes_through,
                         repeat_block, repeated)
from .conv import NORMS, ROLES, ConvSpec, LinearSpec
from .plain import (BatchNormSpec, ChannelShuffleSpec, DropoutSpec, FlattenSpec, LayerNormSpec, LayerScaleSpec, LRNSpec,
                    SoftmaxSpec)
from .pooling import (AdaptiveAvgPoolSpec, AdaptiveMaxPoolSpec, AvgPoolSpec, GlobalAvgPoolSpec, GlobalMaxPoolSpec,
                      MaxPoolSpec)

__all__ = [
    "ACTIVATION_CHOICES", "ACTIVATION_SPECS", "ACTIVATIONS", "ActivationSpec", "ReLUSpec", "LAYER_TYPES",
    "Cost", "Field", "Layer", "ModuleKit", "Pair", "PaperFigures", "Shape", "Traffic", "feature_map", "layer_type",
    "numel", "path_out", "walk", "COLUMN_ROLES", "ROLES", "NORMS", "INCEPTION_COLUMNS", "MAX_CHANNELS", "MAX_PATHS",
    "MAX_ROWS", "MERGES", "REDUCE_COLUMNS", "BranchesSpec",
    "CompositeSpec", "InceptionSpec", "ParallelSpec", "RepeatSpec", "SequenceSpec", "SESpec",
    "factorized_5x5", "make_divisible", "passes_through", "repeat_block", "repeated", "AdaptiveAvgPoolSpec",
    "AdaptiveMaxPoolSpec", "AvgPoolSpec", "BatchNormSpec", "ChannelShuffleSpec", "LayerNormSpec", "LayerScaleSpec",
    "ConvSpec", "DropoutSpec", "FlattenSpec", "GlobalAvgPoolSpec", "GlobalMaxPoolSpec",
    "LinearSpec", "LRNSpec", "MaxPoolSpec", "SoftmaxSpec",
]
