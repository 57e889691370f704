// Built-in Azure role definition ids used by this deployment. The ids are fixed across every
// Azure tenant; they are listed once so each assignment names the role it grants.
// Source: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

@export()
@description('Built-in role definition ids (GUIDs), by role name.')
var builtInRoles = {
  // Read, write, delete blobs and containers, and take blob leases: the Functions host keeps its
  // locks and timer state as blob leases in AzureWebJobsStorage.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Read, write and delete blobs (no ACL/ownership management): the operator uploading images.
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  // Read blobs and list containers: the data an app only consumes.
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  // Send, receive and manage (read the entity's runtime properties): what the scaler needs.
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
