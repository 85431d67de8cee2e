"""Function specs: what a model is told about a function, plus what Magnet needs to chain functions.

The public face of four modules, each with one job, so that ``from magnet.tools.spec import ...`` keeps working:

- ``magnet.tools.function_spec``: the ``FunctionSpec`` record and ``validate_spec_dict``, the check every spec
  passes.
- ``magnet.tools.spec_loaders``: OpenAI tool JSON, BFCL func-doc JSON lines and StableToolBench folders in, Magnet's
  spec files out.
- ``magnet.tools.python_spec``: specs from Python functions (type hints and docstring, or ``SpecOverrides``).
- ``magnet.tools.schema_check``: the JSON-Schema checks, of schemas and of values.
"""

from __future__ import annotations

from magnet.tools.function_spec import (
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    FunctionSpec,
    validate_spec_dict,
)
from magnet.tools.python_spec import (
    Docstring,
    SpecOverrides,
    parse_docstring,
    python_type_to_schema,
    spec_from_callable,
)
from magnet.tools.schema_check import BFCL_TYPE_MAP, JSON_TYPES, validate_schema
from magnet.tools.spec_loaders import (
    bfcl_schema_to_json_schema,
    load_bfcl_func_docs,
    load_openai_tools,
    load_stabletoolbench,
    save_specs,
)

__all__ = [
    "BFCL_TYPE_MAP",
    "JSON_TYPES",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "Docstring",
    "FunctionSpec",
    "SpecOverrides",
    "bfcl_schema_to_json_schema",
    "load_bfcl_func_docs",
    "load_openai_tools",
    "load_stabletoolbench",
    "parse_docstring",
    "python_type_to_schema",
    "save_specs",
    "spec_from_callable",
    "validate_schema",
    "validate_spec_dict",
]
