"""Layer specs: frozen dataclasses, one per YAML `type`, with their closed-form arithmetic, split by
family (base, plain, activations, composites) behind one registry, LAYER_TYPES."""
from .activations import ACTIVATION_CHOICES, ACTIVATION_SPECS, ACTIVATIONS, ActivationSpec, ReLUSpec
from .base import (LAYER_TYPES, Cost, Field, Layer, Pair, PaperFigures, Shape, Traffic, feature_map, layer_type,
                   numel, path_out, walk)
from .composites import (COLUMN_ROLES, INCEPTION_COLUMNS, MAX_CHANNELS, MAX_PATHS, MAX_ROWS, MERGES, REDUCE_COLUMNS,
                         BranchesSpec, CompositeSpec, InceptionSpec, ParallelSpec, RepeatSpec, SequenceSpec, SESpec,
                         factorized_5x5, make_divisible, passes_through, repeat_block, repeated)
from .plain import (ROLES, AdaptiveAvgPoolSpec, AdaptiveMaxPoolSpec, AvgPoolSpec, BatchNormSpec, ChannelShuffleSpec,
                    ConvSpec, DropoutSpec, FlattenSpec, GlobalAvgPoolSpec, GlobalMaxPoolSpec, LayerNormSpec,
                    LayerScaleSpec, LinearSpec, LRNSpec, MaxPoolSpec, SoftmaxSpec)

__all__ = [
    "ACTIVATION_CHOICES", "ACTIVATION_SPECS", "ACTIVATIONS", "ActivationSpec", "ReLUSpec", "LAYER_TYPES",
    "Cost", "Field", "Layer", "Pair", "PaperFigures", "Shape", "Traffic", "feature_map", "layer_type", "numel",
    "path_out", "walk", "COLUMN_ROLES", "ROLES", "INCEPTION_COLUMNS", "MAX_CHANNELS", "MAX_PATHS", "MAX_ROWS",
    "MERGES", "REDUCE_COLUMNS", "BranchesSpec",
    "CompositeSpec", "InceptionSpec", "ParallelSpec", "RepeatSpec", "SequenceSpec", "SESpec",
    "factorized_5x5", "make_divisible", "passes_through", "repeat_block", "repeated", "AdaptiveAvgPoolSpec",
    "AdaptiveMaxPoolSpec", "AvgPoolSpec", "BatchNormSpec", "ChannelShuffleSpec", "LayerNormSpec", "LayerScaleSpec",
    "ConvSpec", "DropoutSpec", "FlattenSpec", "GlobalAvgPoolSpec", "GlobalMaxPoolSpec",
    "LinearSpec", "LRNSpec", "MaxPoolSpec", "SoftmaxSpec",
]
