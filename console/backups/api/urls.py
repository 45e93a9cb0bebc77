from console.backups.api.views import BackupViewSet
from slots.api.urls import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("admin/backups", BackupViewSet, basename="backup")

urlpatterns = router.urls
