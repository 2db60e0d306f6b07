from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "affiliation", "sector", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_active", "sector"]
    search_fields = ["email", "display_name", "affiliation"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (
            _("Profile"),
            {
                "fields": [
                    "display_name",
                    "affiliation",
                    "sector",
                    "country",
                    "bio",
                    "language",
                    "time_zone",
                ]
            },
        ),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "display_name", "password1", "password2"]})
    ]
