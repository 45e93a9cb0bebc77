from console.reports.api.views import ReportViewSet
from slots.api.urls import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("reports", ReportViewSet, basename="report")

urlpatterns = router.urls
