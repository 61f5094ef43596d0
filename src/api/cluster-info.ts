// What clients need to know about the cluster to route for it, as the manager sends it (in the
// hello result and the cluster-info event, control-api.ts). The manager learns it in
// src/manager/cluster-info.ts; the laptop daemon routes with it.

export interface ClusterInfo {
  clusterDomain: string;
  serviceCidrs: string[];
  podCidrs: string[];
  namespaces: string[];
}
