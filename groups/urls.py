from django.urls import path

from . import views

app_name = "groups"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("groups/new/", views.group_create, name="create"),
    path("two-factor/continue/", views.mfa_resume, name="mfa_resume"),
    path("groups/<slug:slug>/", views.group_detail, name="detail"),
    path("groups/<slug:slug>/members/", views.member_list, name="members"),
    path("groups/<slug:slug>/leave/", views.leave, name="leave"),
    path("groups/<slug:slug>/settings/", views.group_settings, name="settings"),
    path("groups/<slug:slug>/audit/", views.audit_log, name="audit"),
    path("groups/<slug:slug>/manage/", views.manage, name="manage"),
    path("groups/<slug:slug>/manage/invite/", views.invite, name="invite"),
    path("groups/<slug:slug>/manage/invite-many/", views.invite_many, name="invite_many"),
    path("groups/<slug:slug>/manage/members/<int:pk>/role/", views.membership_role,
         name="membership_role"),
    path("groups/<slug:slug>/manage/members/<int:pk>/extend/", views.membership_extend,
         name="membership_extend"),
    path("groups/<slug:slug>/manage/members/<int:pk>/remove/", views.membership_remove,
         name="membership_remove"),
    path("groups/<slug:slug>/manage/invitations/<int:pk>/resend/", views.invitation_resend,
         name="invitation_resend"),
    path("groups/<slug:slug>/manage/invitations/<int:pk>/revoke/", views.invitation_revoke,
         name="invitation_revoke"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("join/", views.join, name="join"),
    path("join/thanks/", views.join_thanks, name="join_thanks"),
    path("join-requests/", views.join_requests, name="join_requests"),
    path("join-requests/<int:pk>/", views.join_request_detail, name="join_request_detail"),
]  # fmt: skip
