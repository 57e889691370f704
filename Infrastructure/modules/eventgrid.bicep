// Event Grid system topic on the storage account. BlobCreated events under the images container
// are delivered into the score-requests Service Bus queue with a managed identity (no SAS).

param location string
param tags object
param name string
param storageAccountId string

@description('Container whose new blobs are scored.')
param imagesContainer string

@description('Resource id of the score-requests queue.')
param scoreRequestsQueueId string

@description('Resource id of the user-assigned identity Event Grid delivers and dead-letters with.')
param deliveryIdentityId string

@description('Container for events Event Grid could not deliver.')
param deadLetterContainer string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${deliveryIdentityId}': {}
    }
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource imagesToQueue 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'images-to-score-requests'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // No size filter: an empty blob must still end as an error row ("Empty"), not vanish.
      subjectBeginsWith: '/blobServices/default/containers/${imagesContainer}/'
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deliveryIdentityId
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: scoreRequestsQueueId
        }
      }
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: deliveryIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

output name string = systemTopic.name
output id string = systemTopic.id
output subscriptionName string = imagesToQueue.name
