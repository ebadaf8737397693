#!/bin/sh
# azd postdeploy hook: create the Event Grid subscriptions once the function code is deployed.
#
# Event Grid validates an AzureFunction endpoint (<app id>/functions/on_aks_event) when the event
# subscription is created, so the first `azd provision` runs with deployEventSubscriptions=false.
# After `azd deploy` this hook waits until the host has indexed on_aks_event, turns the flag on and
# provisions again (idempotent; later `azd up` runs keep the flag on and skip this).
# Needs: azd (running this hook), az CLI logged in to the same tenant.
set -eu

FUNCTION_NAME="on_aks_event"

if [ "${DEPLOY_EVENT_SUBSCRIPTIONS:-false}" = "true" ] && [ "${EVENT_SUBSCRIPTIONS_DEPLOYED:-false}" = "true" ]; then
  echo "Event Grid subscriptions already deployed."
  exit 0
fi

: "${AZURE_SUBSCRIPTION_ID:?run azd provision first}"
: "${AZURE_RESOURCE_GROUP:?run azd provision first}"
: "${AZURE_FUNCTION_APP_NAME:?run azd provision first}"

echo "Waiting for ${AZURE_FUNCTION_APP_NAME} to index ${FUNCTION_NAME}..."
attempt=0
until az functionapp function show \
        --subscription "$AZURE_SUBSCRIPTION_ID" \
        --resource-group "$AZURE_RESOURCE_GROUP" \
        --name "$AZURE_FUNCTION_APP_NAME" \
        --function-name "$FUNCTION_NAME" --query name -o tsv >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "ERROR: ${FUNCTION_NAME} not found on ${AZURE_FUNCTION_APP_NAME} after 5 minutes." >&2
    echo "Check the deployment, then run: azd env set DEPLOY_EVENT_SUBSCRIPTIONS true && azd provision" >&2
    exit 1
  fi
  sleep 10
done

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true
azd provision --no-prompt
