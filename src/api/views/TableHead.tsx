/** A table's column headings; a column left out (false) is not shown, so optional columns read inline. */
export function TableHead(props: { columns: (string | false | undefined)[] }) {
  return (
    <thead>
      <tr>{props.columns.map((c) => (c ? <th scope="col">{c}</th> : null))}</tr>
    </thead>
  );
}
