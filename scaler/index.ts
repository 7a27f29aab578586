/**
 * The scaler actor, its load model and policies, and pod providers (Kubernetes,
 * local processes). It arrives with the scaling issue.
 */
export {};
