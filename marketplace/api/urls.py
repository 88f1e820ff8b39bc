from django.urls import path

from marketplace.api import notices, reports, views, webhooks

urlpatterns = [
    path(
        "listings/<uuid:public_id>/reports/",
        reports.ListingReportCreateView.as_view(),
        name="api-listing-reports",
    ),
    path("bids/", views.BidListCreateView.as_view(), name="api-bids"),
    path("bids/<uuid:public_id>/", views.BidDetailView.as_view(), name="api-bid"),
    path("audience-bids/", views.AudienceBidCreateView.as_view(), name="api-audience-bids"),
    path("trades/", views.TradeListView.as_view(), name="api-trades"),
    path("trades/<uuid:public_id>/", views.TradeDetailView.as_view(), name="api-trade"),
    path("trades/<uuid:public_id>/records/", views.TradeRecordsView.as_view(), name="api-trade-records"),
    path("access-grants/", views.AccessGrantListView.as_view(), name="api-access-grants"),
    path("access-grants/<uuid:public_id>/", views.AccessGrantRecordView.as_view(), name="api-access-grant"),
    path("deletion-notices/", notices.DeletionNoticeListView.as_view(), name="api-deletion-notices"),
    path(
        "deletion-notices/<uuid:public_id>/",
        notices.DeletionNoticeDetailView.as_view(),
        name="api-deletion-notice",
    ),
    path(
        "deletion-notices/<uuid:public_id>/acknowledge/",
        notices.DeletionNoticeAcknowledgeView.as_view(),
        name="api-deletion-notice-acknowledge",
    ),
]

# Outbound webhooks (scope webhooks:manage)
urlpatterns += [
    path(
        "webhook-endpoints/", webhooks.WebhookEndpointListCreateView.as_view(), name="api-webhook-endpoints"
    ),
    path(
        "webhook-endpoints/<uuid:public_id>/",
        webhooks.WebhookEndpointDetailView.as_view(),
        name="api-webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<uuid:public_id>/roll-secret/",
        webhooks.WebhookEndpointRollSecretView.as_view(),
        name="api-webhook-endpoint-roll-secret",
    ),
    path(
        "webhook-endpoints/<uuid:public_id>/enable/",
        webhooks.WebhookEndpointEnableView.as_view(),
        name="api-webhook-endpoint-enable",
    ),
    path(
        "webhook-endpoints/<uuid:public_id>/disable/",
        webhooks.WebhookEndpointDisableView.as_view(),
        name="api-webhook-endpoint-disable",
    ),
    path(
        "webhook-endpoints/<uuid:public_id>/deliveries/",
        webhooks.WebhookEndpointDeliveriesView.as_view(),
        name="api-webhook-endpoint-deliveries",
    ),
    path("webhook-events/", webhooks.WebhookEventListView.as_view(), name="api-webhook-events"),
    path(
        "webhook-events/<uuid:public_id>/",
        webhooks.WebhookEventDetailView.as_view(),
        name="api-webhook-event",
    ),
    path(
        "webhook-events/<uuid:public_id>/deliveries/",
        webhooks.WebhookEventDeliveriesView.as_view(),
        name="api-webhook-event-deliveries",
    ),
    path(
        "webhook-deliveries/<uuid:public_id>/",
        webhooks.WebhookDeliveryDetailView.as_view(),
        name="api-webhook-delivery",
    ),
    path(
        "webhook-deliveries/<uuid:public_id>/redeliver/",
        webhooks.WebhookDeliveryRedeliverView.as_view(),
        name="api-webhook-delivery-redeliver",
    ),
]
