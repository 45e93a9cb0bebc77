from rest_framework.routers import SimpleRouter

from slots.api.views import SlotTypeViewSet, SlotViewSet


class OptionalSlashRouter(SimpleRouter):
    """Both ``/slots`` and ``/slots/`` (no redirect, so POST bodies survive)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("slot-types", SlotTypeViewSet, basename="slot-type")
router.register("slots", SlotViewSet, basename="slot")

urlpatterns = router.urls
