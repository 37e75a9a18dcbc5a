"""Models: a recurrent network with its inputs, head and loss — the RNN types of the course."""
from .batch import Batch
from .encoder_decoder import EncoderDecoder
from .sequence import MODELS, ManyToMany, ManyToOne, OneToMany, OneToOne, SequenceModel, sequence_model

KINDS = (*MODELS, EncoderDecoder.kind)  # every RNN type, by the name configs use (topology.kind)

__all__ = ["Batch", "EncoderDecoder", "KINDS", "MODELS", "ManyToMany", "ManyToOne", "OneToMany", "OneToOne",
           "SequenceModel", "sequence_model"]
