"""The Django admin writes the audit trail too.

Documents whose status matters are read-only in every app's admin (their changes go through
the services). What stays editable here, reference data, policies, users and their roles,
goes through AuditedAdmin: every add, change and delete records who did it and the diff,
old → new, the same way a service would.
"""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken

from p2p import accounts
from p2p.audit import audit_record
from p2p.http import request_user
from p2p.models import AuditAction

# Never copied into the trail, not even as a hash.
SECRET_FIELDS = frozenset({"password"})


def _model_field(obj: models.Model, name: str, hidden: frozenset[str]) -> models.Field | None:
    if name in SECRET_FIELDS or name in hidden:
        return None
    try:
        field = obj._meta.get_field(name)
    except FieldDoesNotExist:
        return None  # a form-only field, such as a new password typed twice
    # Names come from form fields, so a reverse relation or generic key is never asked for;
    # the isinstance check says so to the type checker too.
    if not isinstance(field, models.Field):
        return None
    return field if field.concrete or field.many_to_many else None


def _value_text(obj: models.Model, field: models.Field) -> str:
    """A field's value as a clerk reads it: related objects by name, roles by group name."""
    if field.many_to_many:
        if obj.pk is None:
            return ""
        return ", ".join(sorted(str(related) for related in getattr(obj, field.name).all()))
    value = getattr(obj, field.name)
    return "" if value is None else str(value)


def _snapshot(
    obj: models.Model, names: list[str], hidden: frozenset[str] = frozenset()
) -> dict[str, str]:
    fields = [field for name in names if (field := _model_field(obj, name, hidden)) is not None]
    return {field.name: _value_text(obj, field) for field in fields}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Documents whose status matters are browsed here; only the services change them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Lines shown under their document, never edited here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every add, change and delete writes an audit event with the diff."""

    # A model's own secrets (a TOTP key, a token digest), kept out of the trail like passwords.
    audit_hidden_fields: frozenset[str] = frozenset()

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool):
        if change:
            # Read before saving: the row in the database still holds the old values.
            stored = type(obj)._default_manager.get(pk=obj.pk)
            # Carried on the form, the one object save_related receives too.
            form._audit_before = _snapshot(  # type: ignore[attr-defined]
                stored, form.changed_data, self.audit_hidden_fields
            )
        else:
            form._audit_before = {}  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets, change: bool) -> None:
        # Many-to-many values (a user's roles) are saved here, after save_model.
        super().save_related(request, form, formsets, change)
        before = getattr(form, "_audit_before", {})
        names = form.changed_data if change else list(form.fields)
        # Read back as stored, so 5 and 5.000 do not show as a change.
        stored = type(form.instance)._default_manager.get(pk=form.instance.pk)
        after = _snapshot(stored, names, self.audit_hidden_fields)
        changes = {
            name: [before.get(name, ""), value]
            for name, value in after.items()
            if before.get(name, "") != value
        }
        if change and not changes:
            return
        audit_record(
            obj=form.instance,
            action=AuditAction.ADMIN_CHANGED if change else AuditAction.ADMIN_ADDED,
            by=request_user(request),
            changes=changes,
        )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        with transaction.atomic():
            self._audit_deletion(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset.order_by("pk"):
                self._audit_deletion(request, obj)
            super().delete_queryset(request, queryset)

    def _audit_deletion(self, request: HttpRequest, obj: models.Model) -> None:
        names = [field.name for field in obj._meta.concrete_fields if not field.primary_key]
        audit_record(
            obj=obj,
            action=AuditAction.ADMIN_DELETED,
            by=request_user(request),
            changes={
                name: [value, ""]
                for name, value in _snapshot(obj, names, self.audit_hidden_fields).items()
            },
        )


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    """Users and their roles: who granted whom which role is part of the trail."""

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            if request.method == "POST" and response.status_code == 302:
                audit_record(
                    # The password was just changed, so the user exists.
                    obj=self.get_object(request, id),  # type: ignore[arg-type]
                    action=AuditAction.ADMIN_CHANGED,
                    by=request_user(request),
                    changes={"password": ["", "set by an administrator"]},
                )
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    """Roles (groups) and their permissions."""


admin.site.unregister(TOTPDevice)
admin.site.unregister(AuthToken)
admin.site.unregister(AccessAttempt)


class RemoveOnlyAdmin(AuditedAdmin):
    """Shown for support and removable (audited), never added or edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


@admin.register(TOTPDevice)
class AuthenticatorAppAdmin(RemoveOnlyAdmin):
    """A user's authenticator app: an administrator removes one for a lost phone. The secret
    is never shown or set here: whoever knows it can produce the user's codes."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    search_fields = ("user__username",)
    audit_hidden_fields = frozenset({"key"})


@admin.register(AuthToken)
class ApiTokenAdmin(RemoveOnlyAdmin):
    """API tokens, revoked here by deleting; none is made here, as it would act as its user
    past their two-factor sign-in (users issue their own under Account > API tokens)."""

    list_display = ("token_key", "user", "created", "expiry")
    fields = ("token_key", "user", "created", "expiry")
    search_fields = AuthTokenAdmin.search_fields

    # Revoked through the service, which records it on the user (a token's key is no row id).
    def delete_model(self, request: HttpRequest, obj: AuthToken) -> None:
        accounts.api_token_revoke(user=obj.user, token_key=obj.token_key, by=request_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for token in queryset.select_related("user").order_by("token_key"):
                self.delete_model(request, token)


@admin.register(AccessAttempt)
class SignInLockoutAdmin(RemoveOnlyAdmin, AccessAttemptAdmin):
    """Failed sign-ins; deleting a row lifts its lockout, and who lifted it is recorded."""

    audit_hidden_fields = frozenset({"get_data", "post_data", "http_accept"})
