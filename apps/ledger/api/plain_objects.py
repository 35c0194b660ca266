"""Small nested objects of plain values ({type, id}, {type, token}, amounts), accepted by a direct
check when they are plainly valid.

DRF validates a nested object by building and binding a copy of each of its fields and running
each field's validators; for a deposit's five small objects that was about a fifth of the
request's Python time. Most requests send exactly the declared keys with ordinary values. Those
are checked here in a few comparisons and give the same validated dict DRF would give. Anything
else — a missing or unknown key, a number where text goes, padding, non-ASCII text, a length at
the limit's edge, a value a `validate_*` method refuses — goes through DRF's own validation,
which builds the error messages, so errors are always DRF's."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

_TEXT = "text"
_COUNT = "count"
# the validators CharField adds itself: what _plain_text checks
_CHARFIELD_OWN = (MaxLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)


def _plain_text(value, max_length: int) -> bool:
    # what CharField accepts unchanged: not blank, nothing to trim, within max_length, no NUL
    # (ASCII also rules out the surrogates DRF refuses)
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and value.strip() == value
        and "\x00" not in value
    )


_IN_SPECS: dict = {}


class PlainObjectSerializer(serializers.Serializer):
    """Mix in before a Serializer whose fields are all text (`CharField` with a max_length, or a
    field declaring `plain_text_max_length`) or counts (a field declaring `plain_count_range`)."""

    def run_validation(self, data=empty):
        spec = _IN_SPECS.get(type(self), empty)
        if spec is empty:
            spec = _IN_SPECS[type(self)] = _spec_of(type(self))
        if spec is not None and type(data) is dict and data.keys() == spec.keys() and not self.validators:
            value = {}
            for name, (kind, limit) in spec.items():
                item = data[name]
                if kind is _TEXT:
                    if not _plain_text(item, limit):
                        break
                elif type(item) is not int or not limit[0] <= item <= limit[1]:
                    break
                value[name] = item
            else:
                try:
                    for name in spec:
                        check = getattr(self, f"validate_{name}", None)
                        if check is not None:
                            value[name] = check(value[name])
                    return self.validate(value)
                except (serializers.ValidationError, DjangoValidationError):
                    pass  # DRF's validation below names the error
        return super().run_validation(data)


def _spec_of(cls) -> dict | None:
    spec = {}
    for name, field in cls._declared_fields.items():
        if field.source not in (None, name) or field.read_only or not field.required or field.allow_null:
            return None
        if isinstance(field, serializers.CharField):
            if field.allow_blank or not field.trim_whitespace or field.min_length or field.max_length is None:
                return None
            if not all(isinstance(v, _CHARFIELD_OWN) for v in field.validators):
                return None
            spec[name] = (_TEXT, field.max_length)
        elif field.validators:
            return None
        elif getattr(field, "plain_text_max_length", None):
            spec[name] = (_TEXT, field.plain_text_max_length)
        elif getattr(field, "plain_count_range", None):
            spec[name] = (_COUNT, field.plain_count_range)
        else:
            return None
    return spec


_OUT_SPECS: dict = {}
_INT = "int"


def plain_data(serializer_class, instance: dict) -> dict:
    """`serializer_class(instance).data` for a dict of plain values (text, integers, None, nested
    dicts of those), built directly: the answer of a ledger write. A class with other kinds of
    field, or a value of another type, goes through DRF."""
    spec = _OUT_SPECS.get(serializer_class, empty)
    if spec is empty:
        spec = _OUT_SPECS[serializer_class] = _out_spec(serializer_class())
    out = _out(spec, instance) if spec is not None else None
    return out if out is not None else serializer_class(instance).data


def _out_spec(serializer) -> dict | None:
    spec = {}
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if field.source not in (name, None) or "." in (field.source or ""):
            return None
        if type(field) is serializers.CharField:
            spec[name] = _TEXT
        elif type(field) is serializers.IntegerField:
            spec[name] = _INT
        elif isinstance(field, serializers.Serializer):
            nested = _out_spec(field)
            if nested is None:
                return None
            spec[name] = nested
        else:
            return None
    return spec


def _out(spec: dict, instance) -> dict | None:
    if type(instance) is not dict:
        return None
    out = {}
    for name, kind in spec.items():
        if name not in instance:
            return None
        value = instance[name]
        if value is None:
            out[name] = None
        elif kind is _TEXT:
            if type(value) is not str:
                return None
            out[name] = value
        elif kind is _INT:
            if type(value) is not int:
                return None
            out[name] = value
        else:
            nested = _out(kind, value)
            if nested is None:
                return None
            out[name] = nested
    return out
