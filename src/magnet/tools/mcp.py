"""MCP servers as pools: each ``mcp:`` entry becomes a ``Toolkit`` class whose functions are the server's tools.

The specs are the server's listing: the tool's name, description and input schema, and its ``outputSchema`` as
the response when the server gives one. A tool without one that takes no required argument is called once on
the seed state and its output's shape becomes the response (``infer_schema``), so that the schema judge can link
it; the others are left to the LLM judge (``graph.judge: llm``), which reads descriptions. Only a call that can do
no harm is made (``may_call_on_seed``): a stdio server runs on a copy of its seed, but a tool that says it reaches
the outside world is not called, and on an URL server without a reset tool only tools that say they only read.

A toolkit instance's state is the log of the calls made on it (``{"calls": [[name, arguments], ...]}``): the
server's state is whatever those calls made of a fresh copy of the seed. A call's output is looked up by the log
and the call (in memory, then in the record store a run attaches with ``use_store``); only an unseen call goes to
a live server (``McpHost``), and its output is recorded. So the same calls always give the same outputs, as
Magnet's own toolkits do, replay and training need no server once a run has recorded its episodes, and a server
whose outputs vary (a clock, a commit hash) still gives one answer per call in a run.

A class built with ``host=None`` (``recorded_toolkit_class``) never starts a server: an unrecorded call is an
error result saying the server is needed.
"""

from __future__ import annotations

import ast
import atexit
import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from magnet.errors import SpecError, ToolkitError
from magnet.tools.function_spec import FunctionSpec, spec_from_valid_dict, validate_spec_dict
from magnet.tools.mcp_entry import McpServer, parse_mcp_entry
from magnet.tools.mcp_host import McpHost, McpServerError  # noqa: F401  (re-exported: what a pool raises)
from magnet.tools.toolkit import Toolkit

logger = logging.getLogger(__name__)

STORE_MODEL = "mcp-outputs"


class RecordStore(Protocol):
    """Where recorded outputs outlive the process (``magnet.llm.cache.RequestCache`` is one)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, answer: Mapping[str, Any], *, model: str, step: str) -> None: ...


# -- outputs -------------------------------------------------------------------------------------------------------


def output_of(result: Any) -> Any:
    """A ``CallToolResult`` as a toolkit output: ``{"error": text}`` when the tool reports an error, its
    structured content when it gives one, else its text as the server wrote it (what the model will read);
    content other than text is named, not dropped silently."""
    parts = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'other')} content]")
    text = "\n".join(parts)
    if getattr(result, "is_error", False):
        return {"error": text or "the tool reported an error"}
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        return structured
    return text


def without_folder(output: Any, folder: Path | None) -> Any:
    """``output`` with the server's working folder (a temporary copy of its seed, named differently for every
    episode) written as ``.``, the path the server's own relative paths start from: no temporary path reaches a
    dataset, and the same call gives the same text in every episode."""
    if folder is None:
        return output
    if isinstance(output, str):
        return output.replace(f"{folder}/", "./").replace(str(folder), ".")
    if isinstance(output, Mapping):
        return {key: without_folder(value, folder) for key, value in output.items()}
    if isinstance(output, list):
        return [without_folder(value, folder) for value in output]
    return output


def parsed_output(output: Any) -> Any:
    """An output's value: text holding JSON or a Python literal (as some servers print rows) is read as that
    value (``ast.literal_eval``: literals only, nothing runs); any other output is returned as it is."""
    if not isinstance(output, str):
        return output
    text = output.strip()
    for read in (json.loads, ast.literal_eval):
        try:
            return read(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return output


def infer_schema(value: Any) -> dict[str, Any]:
    """The JSON Schema of one value's shape (objects' properties, lists' items from their first elements)."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, Mapping):
        return {"type": "object", "properties": {str(key): infer_schema(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        items: dict[str, Any] = {}
        for element in value[:20]:
            schema = infer_schema(element)
            if items.get("type") == "object" == schema.get("type"):
                items = {"type": "object", "properties": {**schema["properties"], **items["properties"]}}
            elif not items:
                items = schema
        return {"type": "array", "items": items} if items else {"type": "array"}
    return {}


# -- the toolkit ---------------------------------------------------------------------------------------------------


def call_key(name: str, arguments: Mapping[str, Any]) -> str:
    """A call as a stable key (its name and canonical arguments)."""
    text = json.dumps([name, dict(arguments)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class McpToolkit(Toolkit):
    """The base of every MCP toolkit class (made by ``mcp_toolkit_class``); its functions are the server's."""

    mcp_server: ClassVar[McpServer]
    mcp_host: ClassVar[McpHost | None] = None
    mcp_specs: ClassVar[tuple[FunctionSpec, ...]] = ()
    mcp_records: ClassVar[dict[str, Any]]
    mcp_store: ClassVar[RecordStore | None] = None
    mcp_inferred: ClassVar[frozenset[str]] = frozenset()
    blocking: ClassVar[bool] = True  # a call may wait for a server to start and answer

    @classmethod
    def toolkit_name(cls) -> str:
        return cls.mcp_server.name

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        return {"calls": []}

    @classmethod
    def _methods(cls) -> dict[str, str]:
        return {}

    @classmethod
    def specs(cls) -> list[FunctionSpec]:
        return list(cls.mcp_specs)

    @classmethod
    def function_names(cls) -> list[str]:
        return [spec.name for spec in cls.mcp_specs]

    @classmethod
    def response_source(cls, function_name: str) -> str:
        """Where the response schema of a function came from: ``output schema``, ``inferred`` or ``none``."""
        if function_name in cls.mcp_inferred:
            return "inferred"
        spec = next((spec for spec in cls.mcp_specs if spec.name == function_name), None)
        return "output schema" if spec is not None and spec.response is not None else "none"

    @classmethod
    def use_store(cls, store: RecordStore | None) -> None:
        """Keep recorded outputs in ``store`` too (a run's ``mcp-outputs.sqlite``), for later stages and reruns;
        what was recorded before (the calls on the seed state that inferred schemas) goes there at once."""
        cls.mcp_store = store
        if store is not None:
            for record, output in cls.mcp_records.items():
                if store.get(record) is None:
                    store.put(record, {"output": output}, model=STORE_MODEL, step="mcp_output")

    @classmethod
    def close_servers(cls) -> None:
        """End the live servers of this class (a later call starts new ones)."""
        if cls.mcp_host is not None:
            cls.mcp_host.close()

    @classmethod
    def record_key(cls, log: Sequence[str], key: str) -> str:
        """Where the output of the call ``key`` made after the calls ``log`` is recorded."""
        text = json.dumps([cls.mcp_server.identity, *log, key])
        return hashlib.sha256(text.encode()).hexdigest()

    def dispatch(self, function_name: str) -> Callable[..., Any]:
        if function_name not in self.function_names():
            raise ToolkitError(f"{self.toolkit_name()} has no function {function_name!r}")

        def run(**arguments: Any) -> Any:
            return self._execute(function_name, arguments)

        return run

    def _execute(self, name: str, arguments: dict[str, Any]) -> Any:
        cls = type(self)
        calls = self.data["calls"]
        keys = [call_key(earlier, earlier_arguments) for earlier, earlier_arguments in calls]
        key = call_key(name, arguments)
        record = cls.record_key(keys, key)
        if record in cls.mcp_records:
            output = cls.mcp_records[record]
        elif cls.mcp_store is not None and (stored := cls.mcp_store.get(record)) is not None:
            output = cls.mcp_records[record] = stored["output"]
        elif cls.mcp_host is None:
            return {
                "error": f"{name} was not recorded after these calls, and {cls.toolkit_name()} has no live server "
                "(start it through its mcp: pool entry)"
            }
        else:
            result, folder = cls.mcp_host.call([tuple(call) for call in calls], [*keys, key], name, arguments)
            output = cls.mcp_records[record] = without_folder(output_of(result), folder)
            if cls.mcp_store is not None:
                cls.mcp_store.put(record, {"output": output}, model=STORE_MODEL, step="mcp_output")
        calls.append([name, json.loads(json.dumps(arguments, default=str))])
        return output


def inline_refs(schema: Any, definitions: Mapping[str, Any] | None = None, seen: tuple[str, ...] = ()) -> Any:
    """``schema`` with every local ``$ref`` (``#/$defs/X``, ``#/definitions/X``) replaced by what it names and the
    definitions dropped, as pydantic-made schemas (most servers' on the SDK) need: the schema judge reads the
    fields of nested models, and a model reads the whole shape in one place. A reference inside its own
    definition (a recursive model) becomes ``{"type": "object"}``, keeping the description it had."""
    if definitions is None:  # the root: where the definitions are, and the only place they are dropped from
        if not isinstance(schema, Mapping):
            return schema
        definitions = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
        schema = {key: value for key, value in schema.items() if key not in ("$defs", "definitions")}
    if isinstance(schema, list):
        return [inline_refs(item, definitions, seen) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith(("#/$defs/", "#/definitions/")):
        name = reference.rsplit("/", 1)[1]
        extra = {key: value for key, value in schema.items() if key != "$ref"}
        if name in seen or name not in definitions:
            return {"type": "object", **inline_refs(extra, definitions, seen)}
        return {**inline_refs(definitions[name], definitions, (*seen, name)), **inline_refs(extra, definitions, seen)}
    return {key: inline_refs(value, definitions, seen) for key, value in schema.items()}


def _spec_of(tool: Any, server: McpServer) -> FunctionSpec:
    output_schema = getattr(tool, "output_schema", None)
    data = {
        "name": tool.name,
        "description": (tool.description or getattr(tool, "title", None) or "").strip(),
        "parameters": inline_refs(dict(tool.input_schema or {"type": "object", "properties": {}})),
        "response": inline_refs(dict(output_schema)) if output_schema else None,
        "toolkit": server.name,
    }
    problems = validate_spec_dict(data, source=f"MCP server {server.name}")
    if problems:
        raise SpecError(problems)
    return spec_from_valid_dict(data)


def _class(server: McpServer, host: McpHost | None, specs: Sequence[FunctionSpec]) -> type[McpToolkit]:
    attributes = {
        "mcp_server": server,
        "mcp_host": host,
        "mcp_specs": tuple(specs),
        "mcp_records": {},
        "blocking": host is not None,  # recorded outputs alone are lookups
        "description": f"MCP server {server.entry}",
        "__doc__": f"The tools of MCP server {server.name} ({server.entry}).",
    }
    name = "".join(part.capitalize() for part in server.name.replace("-", "_").replace(".", "_").split("_"))
    return type(f"Mcp{name}" if name.isidentifier() else "McpServerToolkit", (McpToolkit,), attributes)


def mcp_toolkit_class(entry: str | McpServer, *, infer: bool = True, **host_options: Any) -> type[McpToolkit]:
    """The toolkit class of an ``mcp:`` pool entry: its server is started to list its tools (and, with ``infer``,
    to call once each tool that has no output schema and no required argument); its host stays up for the
    calls of a run and closes at exit or with ``close_servers``. A server that does not start, or lists tools
    Magnet cannot take, is a ``ToolkitError`` naming the entry."""
    server = entry if isinstance(entry, McpServer) else parse_mcp_entry(entry)
    host = McpHost(server, **host_options)
    atexit.register(host.close)
    try:
        tools = host.list_tools()
    except ToolkitError:
        host.close()
        raise
    if server.reset and server.reset not in {tool.name for tool in tools}:
        host.close()
        raise ToolkitError(
            f"MCP server {server.name} ({server.entry}): reset tool {server.reset!r} is not among its tools "
            f"{sorted(tool.name for tool in tools)}"
        )
    tools = [tool for tool in tools if tool.name != server.reset]  # the reset is Magnet's, never a model's
    if not tools:
        host.close()
        raise ToolkitError(f"MCP server {server.name} ({server.entry}) lists no tools")
    try:
        specs = [_spec_of(tool, server) for tool in tools]
    except SpecError as error:
        host.close()
        raise ToolkitError(f"MCP server {server.name} ({server.entry}): " + "; ".join(error.problems)) from None
    klass = _class(server, host, specs)
    if infer:
        callable_on_seed = {tool.name for tool in tools if may_call_on_seed(tool, server)}
        klass.mcp_specs = tuple(
            _with_inferred_response(klass, spec) if spec.name in callable_on_seed else spec for spec in specs
        )
        klass.mcp_inferred = frozenset(
            spec.name for spec, before in zip(klass.mcp_specs, specs, strict=True) if spec.response != before.response
        )
    return klass


def may_call_on_seed(tool: Any, server: McpServer) -> bool:
    """Whether one call of ``tool`` to see its output's shape can do no harm, by its annotations: a stdio server
    runs on a copy of its seed, so any tool but one that says it reaches the outside world (``openWorldHint``)
    without only reading; an URL server's state is its own, so only a tool that says it only reads
    (``readOnlyHint``), or with a reset tool one that says neither that it reaches out nor that it destroys."""
    annotations = getattr(tool, "annotations", None)
    read_only = getattr(annotations, "read_only_hint", None) is True
    open_world = getattr(annotations, "open_world_hint", None) is True
    destructive = getattr(annotations, "destructive_hint", None) is True
    if read_only:
        return True
    if server.url is None:
        return not open_world
    return bool(server.reset) and not open_world and not destructive


def _with_inferred_response(klass: type[McpToolkit], spec: FunctionSpec) -> FunctionSpec:
    """``spec`` with the shape of its output on the seed state as its response, when it has no response and can
    be called with no argument; else ``spec`` as it is (a failed call is logged, never raised: the tool is left
    to the LLM judge)."""
    if spec.response is not None or spec.required:
        return spec
    try:
        output = parsed_output(klass().dispatch(spec.name)())
    except Exception as error:  # the server's or the SDK's: inference is a bonus, never a reason to fail the pool
        logger.warning("MCP tool %s: not called on the seed state (%s); it keeps no response schema", spec.name, error)
        return spec
    if isinstance(output, Mapping) and set(output) == {"error"}:
        return spec
    schema = infer_schema(output)
    if not (schema.get("properties") or schema.get("items")):
        return spec  # a bare string or number, or an empty list, names no field for a parameter to take
    return dataclasses.replace(spec, response=schema)


def recorded_toolkit_class(
    entry: str | McpServer, specs: Sequence[FunctionSpec], store: RecordStore | None = None
) -> type[McpToolkit]:
    """A toolkit class of an MCP server that starts no server: it answers from recorded outputs (``store``, or
    what is recorded in memory later), and an unrecorded call is an error result. For replaying episodes and
    evaluating on them where the server is not available."""
    server = entry if isinstance(entry, McpServer) else parse_mcp_entry(entry)
    klass = _class(server, None, [spec for spec in specs if spec.toolkit == server.name])
    klass.mcp_store = store
    return klass
