"""Safe message templates: `{name}` placeholders only.

Staff edit templates in the admin, so str.format's attribute and index access
(`{user.__class__}`) must never reach the renderer.
"""

import re
import string

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_formatter = string.Formatter()


class TemplateRenderError(Exception):
    pass


def template_fields(text: str) -> list[str]:
    """Placeholder names in `text`; raises ValueError on malformed braces or unsafe fields."""
    names = []
    for _literal, field, spec, conversion in _formatter.parse(text):
        if field is None:
            continue
        if not _NAME.match(field) or spec or conversion:
            raise ValueError(f"'{{{field}}}' is not allowed: use plain names like {{points}}.")
        names.append(field)
    return names


def template_fields_check(text: str) -> str | None:
    try:
        template_fields(text)
    except ValueError as exc:
        return str(exc)
    return None


def template_render(text: str, context: dict) -> str:
    try:
        names = template_fields(text)
    except ValueError as exc:
        raise TemplateRenderError(str(exc)) from None
    missing = [name for name in names if name not in context]
    if missing:
        raise TemplateRenderError(f"Missing variable(s): {', '.join(missing)}.")
    out = []
    for literal, field, _spec, _conversion in _formatter.parse(text):
        out.append(literal)
        if field is not None:
            out.append(str(context[field]))
    return "".join(out)
