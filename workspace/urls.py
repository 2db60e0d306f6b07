from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path

# The admin signs in through allauth, so MFA and rate limits apply there too.
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    path("", include("core.urls")),
    # Before groups: ``/`` is the public home for visitors and, for people
    # signed in, groups' dashboard (still reversed as ``groups:dashboard``).
    path("", include("public_pages.urls")),
    path("", include("groups.urls")),
    path("", include("discussions.urls")),
    path("", include("documents.urls")),
    path("", include("meetings.urls")),
    path("", include("results.urls")),
    path("", include("webinars.urls")),
    path("", include("notifications.urls")),
    path("", include("home.urls")),
    path("accounts/", include("allauth.urls")),
    path("profile/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]

# A database outage is answered 503 "try again", not 500 (core.views.server_error).
handler500 = "core.views.server_error"
