from config.errors import InvalidInput


class UnknownScope(InvalidInput):
    code = "unknown_scope"
    message = "Unknown scope."


class ExternalIdTaken(InvalidInput):
    code = "external_id_taken"
    message = "This external id belongs to another user."
