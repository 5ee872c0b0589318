import { type Incident, minutesBetween } from './model.ts';

export type Lang = 'fr' | 'en';

/** What the operations tools found around the incident, to attach to its report. */
export interface ReportEvidence {
  /** Log lines (already formatted) from the incident's window. */
  readonly logLines?: readonly string[];
  /** Metric readings at the time, label → value with unit. */
  readonly metrics?: Readonly<Record<string, string>>;
}

const TEXT = {
  fr: {
    report: "Rapport d'incident",
    review: 'Revue post-incident',
    summary: 'Résumé',
    date: 'Date',
    service: 'Service affecté',
    impact: 'Impact',
    duration: 'Durée',
    ongoing: 'en cours',
    status: 'Statut',
    detection: 'Détection',
    timeline: 'Chronologie',
    rootCause: 'Cause racine',
    corrective: 'Actions correctives',
    preventive: 'Actions préventives',
    owners: 'Responsables',
    resolution: 'Résolution',
    communication: 'Communication',
    attachments: 'Pièces jointes',
    logs: 'Journaux pertinents',
    metrics: 'Métriques au moment de l’incident',
    noLogs: 'Aucune ligne de journal de niveau WARNING ou plus dans cette fenêtre.',
    noMetrics: 'Prometheus injoignable : aucune métrique jointe.',
    lessons: 'Leçons apprises',
    future: 'Améliorations futures',
    toFill: 'À compléter',
    monitoring: 'Système de monitoring',
    manual: 'Signalement manuel',
    impacts: { high: 'Haut', medium: 'Moyen', low: 'Faible' },
    statuses: { open: 'ouvert', acknowledged: 'pris en charge', resolved: 'résolu' },
    incident: 'Incident',
    minutes: 'minutes',
    review_roles: ['Revue', 'Suivi', 'Validation'],
  },
  en: {
    report: 'Incident report',
    review: 'Post-incident review',
    summary: 'Summary',
    date: 'Date',
    service: 'Affected service',
    impact: 'Impact',
    duration: 'Duration',
    ongoing: 'ongoing',
    status: 'Status',
    detection: 'Detection',
    timeline: 'Timeline',
    rootCause: 'Root cause',
    corrective: 'Corrective actions',
    preventive: 'Preventive actions',
    owners: 'Owners',
    resolution: 'Resolution',
    communication: 'Communication',
    attachments: 'Attachments',
    logs: 'Relevant log lines',
    metrics: 'Metrics at the time',
    noLogs: 'No log line at WARNING or above in this window.',
    noMetrics: 'Prometheus unreachable: no metrics attached.',
    lessons: 'Lessons learned',
    future: 'Future improvements',
    toFill: 'To be written',
    monitoring: 'Monitoring system',
    manual: 'Reported by hand',
    impacts: { high: 'High', medium: 'Medium', low: 'Low' },
    statuses: { open: 'open', acknowledged: 'acknowledged', resolved: 'resolved' },
    incident: 'Incident',
    minutes: 'minutes',
    review_roles: ['Review', 'Follow-up', 'Sign-off'],
  },
} as const;

function formatDate(iso: string): string {
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
    .replace(/Z$/, ' UTC');
}

function hhmm(iso: string): string {
  return iso.slice(11, 16);
}

/**
 * The spec's incident report (6.5.2.1) followed by its post-incident review
 * (6.8.2), filled from the incident's data; the parts only a person can write
 * are marked to be completed.
 */
export function renderIncidentReport(incident: Incident, lang: Lang, evidence: ReportEvidence = {}): string {
  const t = TEXT[lang];
  const minutes = minutesBetween(incident.opened_at, incident.resolved_at);
  const duration = minutes === null ? t.ongoing : `${Math.max(1, Math.round(minutes))} ${t.minutes}`;
  const todo = `_${t.toFill}_`;
  const detectedBy = incident.source === 'monitoring' ? t.monitoring : `${t.manual} (${incident.opened_by})`;
  const lines: string[] = [
    `# ${t.report} - ${incident.id}`,
    '',
    `## ${t.summary}`,
    `- **${t.date}** : ${formatDate(incident.opened_at)}`,
    `- **${t.service}** : ${incident.service}`,
    `- **${t.impact}** : ${t.impacts[incident.impact]} (${incident.severity})`,
    `- **${t.duration}** : ${duration}`,
    `- **${t.status}** : ${t.statuses[incident.status]}`,
    `- **${t.detection}** : ${detectedBy}`,
    '',
    `${incident.title}`,
    '',
    `## ${t.timeline}`,
    ...[...incident.timeline]
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .map((e) => `- [${hhmm(e.at)}] : ${e.text}${e.by && !e.text.includes(e.by) ? ` (${e.by})` : ''}`),
    '',
    `## ${t.rootCause}`,
    todo,
    '',
    `## ${t.corrective}`,
    `1. ${todo}`,
    '',
    `## ${t.preventive}`,
    `1. ${todo}`,
    '',
    `## ${t.owners}`,
    `- **${t.detection}** : ${detectedBy}`,
    `- **${t.resolution}** : ${incident.resolved_by ?? todo}`,
    `- **${t.communication}** : ${todo}`,
    '',
    `## ${t.attachments}`,
    `### ${t.metrics}`,
    ...(evidence.metrics && Object.keys(evidence.metrics).length > 0
      ? Object.entries(evidence.metrics).map(([name, value]) => `- ${name} : ${value}`)
      : [t.noMetrics]),
    '',
    `### ${t.logs}`,
    ...(evidence.logLines && evidence.logLines.length > 0 ? ['```', ...evidence.logLines, '```'] : [t.noLogs]),
    '',
    '---',
    '',
    `# ${t.review} - ${incident.id}`,
    '',
    `## ${t.summary}`,
    `- **${t.incident}** : ${incident.title}`,
    `- **${t.date}** : ${incident.opened_at.slice(0, 10)}`,
    `- **${t.duration}** : ${duration}`,
    `- **${t.impact}** : ${t.impacts[incident.impact]}`,
    '',
    `## ${t.rootCause}`,
    todo,
    '',
    `## ${t.lessons}`,
    `1. ${todo}`,
    '',
    `## ${t.corrective}`,
    `1. ${todo}`,
    '',
    `## ${t.future}`,
    `1. ${todo}`,
    '',
    `## ${t.owners}`,
    ...t.review_roles.map((role) => `- **${role}** : ${todo}`),
    '',
  ];
  return lines.join('\n');
}
