// How long something has left, for people: "59 min", "2 h 5 min", "40 s", "expired".

export function formatLeft(ms: number): string {
  if (ms <= 0) return 'expired';
  const m = Math.floor(ms / 60000);
  if (m < 1) return `${Math.floor(ms / 1000)} s`;
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}
