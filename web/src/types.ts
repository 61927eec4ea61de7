// Wire shapes of the ovoflow API (see src/api/openapi.yaml).

export type Sex = 'SEX_UNSPECIFIED' | 'SEX_FEMALE' | 'SEX_MALE';
export type Decision = 'DECISION_UNSPECIFIED' | 'DECISION_KEEP' | 'DECISION_DIVERT' | 'DECISION_RECHECK';

export interface StageTimes {
  captured_at?: string;
  published_at?: string;
  consumed_at?: string;
  inferred_at?: string;
}

/** One message of /v1/live: ovoflow.v1.Prediction in the protobuf JSON mapping. */
export interface Prediction {
  egg_id: string;
  tenant_id: string;
  scanner_id: string;
  tray_id: string;
  tray_position: number;
  incubation_day: number;
  sex: Sex;
  p_female: number;
  decision: Decision;
  model_name: string;
  model_version: string;
  times?: StageTimes;
}

export interface Counts {
  total: number;
  female: number;
  male: number;
  keep: number;
  divert: number;
  recheck: number;
}

/** Live accuracy of one model version over the eggs with a recorded outcome. */
export interface ModelAccuracy {
  model_version: string;
  outcomes: number;
  correct: number;
  accuracy: number;
  decided: number;
  decided_correct: number;
  /** null while no KEEP/DIVERT egg has an outcome. */
  decided_accuracy: number | null;
  rechecks: number;
}

export interface TenantStats extends Counts {
  tenant_id: string;
  accuracy?: ModelAccuracy[];
}

/** GET /v1/stats */
export interface Stats extends Counts {
  tenants: TenantStats[];
  accuracy?: ModelAccuracy[];
}
