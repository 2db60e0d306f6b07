from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_delete, post_save, pre_save

        from . import signals
        from .models import User

        # Open sockets learn that their session may have ended (accounts.signals).
        user_logged_out.connect(signals.signed_out, dispatch_uid="accounts.signed_out")
        # Signing in counts as being in (digests ask; accounts.middleware).
        user_logged_in.connect(signals.signed_in, dispatch_uid="accounts.signed_in")
        pre_save.connect(
            signals.remember_sign_in_fields, sender=User, dispatch_uid="accounts.sign_in_before"
        )
        post_save.connect(
            signals.sign_in_fields_saved, sender=User, dispatch_uid="accounts.sign_in_saved"
        )
        post_delete.connect(signals.user_deleted, sender=User, dispatch_uid="accounts.deleted")
