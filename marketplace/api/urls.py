from django.urls import path

from marketplace.api import views

urlpatterns = [
    path("bids/", views.BidListCreateView.as_view(), name="api-bids"),
    path("bids/<uuid:public_id>/", views.BidDetailView.as_view(), name="api-bid"),
    path("audience-bids/", views.AudienceBidCreateView.as_view(), name="api-audience-bids"),
    path("trades/", views.TradeListView.as_view(), name="api-trades"),
    path("trades/<uuid:public_id>/", views.TradeDetailView.as_view(), name="api-trade"),
    path("trades/<uuid:public_id>/records/", views.TradeRecordsView.as_view(), name="api-trade-records"),
    path("access-grants/", views.AccessGrantListView.as_view(), name="api-access-grants"),
    path("access-grants/<uuid:public_id>/", views.AccessGrantRecordView.as_view(), name="api-access-grant"),
    path("deletion-notices/", views.DeletionNoticeListView.as_view(), name="api-deletion-notices"),
    path(
        "deletion-notices/<uuid:public_id>/",
        views.DeletionNoticeDetailView.as_view(),
        name="api-deletion-notice",
    ),
    path(
        "deletion-notices/<uuid:public_id>/acknowledge/",
        views.DeletionNoticeAcknowledgeView.as_view(),
        name="api-deletion-notice-acknowledge",
    ),
]
