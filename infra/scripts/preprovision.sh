#!/bin/sh
# azd preprovision hook: decide DEPLOY_EVENT_SUBSCRIPTIONS from what exists, not from a stale flag.
#
# Event subscriptions can only be created once on_aks_event exists. After `azd down` the flag
# DEPLOY_EVENT_SUBSCRIPTIONS=true stays in .azure/<env>/.env, and the next first provision would
# create them before the function ("Destination endpoint not found"). So every provision starts by
# asking Azure: the flag is true only if the function app from the last provision still has the
# function; otherwise false, and the postdeploy hook turns it on once the code is deployed.
set -eu

FUNCTION_NAME="on_aks_event"
flag=false
if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ] && [ -n "${AZURE_FUNCTION_APP_NAME:-}" ]; then
  if az functionapp function show \
       --subscription "$AZURE_SUBSCRIPTION_ID" \
       --resource-group "$AZURE_RESOURCE_GROUP" \
       --name "$AZURE_FUNCTION_APP_NAME" \
       --function-name "$FUNCTION_NAME" --query name -o tsv >/dev/null 2>&1; then
    flag=true
  fi
fi
echo "preprovision: ${FUNCTION_NAME} deployed: ${flag}; DEPLOY_EVENT_SUBSCRIPTIONS=${flag}"
azd env set DEPLOY_EVENT_SUBSCRIPTIONS "$flag"
