"""Public import path of the gradient checks and the cell conformance kit (``from seqfw.testing import
CellSuite, check_cell``); the code is ``seqfw.engine.gradcheck`` and ``seqfw.engine.conformance``."""
from .engine.conformance import (
    CellCheckError, CellSuite, check_backends_agree, check_cell, check_gradients, check_masks, check_reference,
    check_shapes, check_step_equals_unrolled, check_structure,
)
from .engine.gradcheck import (
    assert_gradients_close, gradient_errors, network_gradients, numerical_grad, param_blocks, rel_error,
)
from .engine.recurrence import carry_state

__all__ = ["CellCheckError", "CellSuite", "assert_gradients_close", "carry_state", "check_backends_agree",
           "check_cell", "check_gradients", "check_masks", "check_reference", "check_shapes",
           "check_step_equals_unrolled", "check_structure", "gradient_errors", "network_gradients",
           "numerical_grad", "param_blocks", "rel_error"]
