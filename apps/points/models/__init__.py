"""Models of the points app, one module per area; import them from here."""

from apps.points.models.awards import *  # noqa: F403
from apps.points.models.configuration import *  # noqa: F403
from apps.points.models.exchanges import *  # noqa: F403
from apps.points.models.expiry import *  # noqa: F403
from apps.points.models.rewards import *  # noqa: F403
