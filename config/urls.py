from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.events.api import urls as events_urls
from apps.giftcards.api import urls as giftcards_urls
from apps.giftcards.web import redeem_page
from apps.identity.api import urls as identity_urls
from apps.ledger.api import urls as ledger_urls
from apps.ledger.web import wallet_page
from apps.points.api import urls as points_urls
from config.health import HealthzView

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
admin.site.index_title = "Offers, points, fees, gift cards and the ledger"

# One flat list: a request is matched against each route in turn. (An app's routes behind an
# include("") of their own would each raise and collect a not-found on the way to a later app.)
api_v1 = [
    *identity_urls.urlpatterns,
    *events_urls.urlpatterns,
    *ledger_urls.urlpatterns,
    *giftcards_urls.urlpatterns,
    *points_urls.urlpatterns,
]

urlpatterns = [
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("wallet", wallet_page, name="wallet"),
    path("giftcards/redeem", redeem_page, name="giftcard-redeem"),
    path("", RedirectView.as_view(pattern_name="wallet"), name="home"),
]

handler400 = "config.errors.json_bad_request"
handler404 = "config.errors.json_not_found"
handler500 = "config.errors.json_server_error"
