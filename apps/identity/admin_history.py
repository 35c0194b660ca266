"""History pages for every admin that keeps django-simple-history records.

simple_history's "revert to this version" page saves a POST from anyone allowed to *view*
history, with whatever data is posted; a revert is a change, so it needs change permission
here (otherwise a view-only role could, for example, post `is_superuser` onto its own user)."""

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class GuardedHistoryAdmin(SimpleHistoryAdmin):
    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, object_id)
            if not self.has_change_permission(request, obj) or self.revert_disabled(request):
                raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
