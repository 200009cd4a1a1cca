"""Tells the request metrics (service/metrics.py) which operation ran and whether its answer
carries errors: only the schema knows which operation of the document it chose."""
from __future__ import annotations

from collections.abc import Iterator

from graphql import get_operation_ast
from strawberry.extensions import SchemaExtension

from service.metrics import current_operation


class ObserveOperation(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        record = current_operation()
        if record is not None:
            record.run = True
        yield
        if record is None:
            return
        context = self.execution_context
        document = context.graphql_document
        chosen = None if document is None else get_operation_ast(document,
                                                                  context.operation_name)
        if chosen is not None:
            record.name = chosen.name.value if chosen.name else None
            record.type = chosen.operation.value
        result = context.result
        record.errors = bool(context.pre_execution_errors or (result and result.errors))
