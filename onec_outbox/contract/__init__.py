"""Event contract v1: what 1C sends to the bridge, validated with messages a 1C programmer can act on.

The ingest calls :func:`parse_event` on every decoded JSON event and stores :func:`event_to_json` of the
result; a :class:`ContractViolation` carries ``errors`` (``path``, ``code``, Russian ``message``) for the
1C queue monitor.  ``python -m onec_outbox.contract.schema`` publishes the same rules as JSON Schema.
"""

from onec_outbox.contract.base import DocumentPayload, Payload
from onec_outbox.contract.counterparty import Address, BankAccount, ContactPerson, CounterpartyPayload
from onec_outbox.contract.documents import (
    Allocation,
    CustomerOrderPayload,
    InvoicePayload,
    Item,
    Organization,
    PaymentPayload,
    Responsible,
    ShipmentPayload,
)
from onec_outbox.contract.errors import ContractViolation, FieldError
from onec_outbox.contract.events import (
    ENTITIES,
    EVENT_CLASSES,
    EVENT_TYPES,
    PAYLOADS,
    CounterpartyEvent,
    CustomerOrderEvent,
    Event,
    InvoiceEvent,
    PaymentEvent,
    ProductEvent,
    ShipmentEvent,
    event_json_schema,
    event_to_json,
    parse_event,
    parse_stored_event,
)
from onec_outbox.contract.heartbeat import Heartbeat, heartbeat_json_schema, parse_heartbeat
from onec_outbox.contract.product import VAT_RATES, ProductPayload, PurchasePrice, SalePrice, Unit

__all__ = [
    "ENTITIES",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "PAYLOADS",
    "VAT_RATES",
    "Address",
    "Allocation",
    "BankAccount",
    "ContactPerson",
    "ContractViolation",
    "CounterpartyEvent",
    "CounterpartyPayload",
    "CustomerOrderEvent",
    "CustomerOrderPayload",
    "DocumentPayload",
    "Event",
    "FieldError",
    "Heartbeat",
    "InvoiceEvent",
    "InvoicePayload",
    "Item",
    "Organization",
    "Payload",
    "PaymentEvent",
    "PaymentPayload",
    "ProductEvent",
    "ProductPayload",
    "PurchasePrice",
    "Responsible",
    "SalePrice",
    "ShipmentEvent",
    "ShipmentPayload",
    "Unit",
    "event_json_schema",
    "event_to_json",
    "heartbeat_json_schema",
    "parse_event",
    "parse_stored_event",
    "parse_heartbeat",
]
